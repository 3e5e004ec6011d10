DROP INDEX jobs_created;
DROP INDEX jobs_type_newest;
DROP INDEX jobs_customer_state_newest;
DROP INDEX jobs_state_newest;
