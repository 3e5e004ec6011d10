DROP TABLE schema_release;
