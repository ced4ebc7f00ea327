-- current
CREATE TABLE t (id int NOT NULL AUTO_INCREMENT PRIMARY KEY, a varchar(20) NULL, b int NOT NULL DEFAULT 0, e enum('a','b') NOT NULL DEFAULT 'a');
-- desired
CREATE TABLE t (id int NOT NULL AUTO_INCREMENT PRIMARY KEY, a varchar(20) NULL, b int NOT NULL DEFAULT 0, e enum('a','b','c') NOT NULL DEFAULT 'a');
