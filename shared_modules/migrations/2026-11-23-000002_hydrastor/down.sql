DROP TABLE hydrastor_alerts;
DROP TABLE hydrastor_filesystems;
DROP TABLE hydrastor_nodes;
DROP TABLE hydrastor_system_reports;
DROP TABLE hydrastor_grids;
