DROP TABLE browser_uploads;
DROP TABLE customer_credentials;
DROP TABLE customers;
