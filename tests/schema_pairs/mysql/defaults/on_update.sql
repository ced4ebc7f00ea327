-- current
CREATE TABLE t (id int NOT NULL AUTO_INCREMENT PRIMARY KEY, a varchar(20) NULL, b int NOT NULL DEFAULT 0, ts timestamp NULL DEFAULT NULL);
-- desired
CREATE TABLE t (id int NOT NULL AUTO_INCREMENT PRIMARY KEY, a varchar(20) NULL, b int NOT NULL DEFAULT 0, ts timestamp NULL DEFAULT NULL ON UPDATE current_timestamp());
