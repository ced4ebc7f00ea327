-- current
CREATE TABLE t (id int NOT NULL AUTO_INCREMENT PRIMARY KEY, a varchar(20) NULL, b int NOT NULL DEFAULT 0);
-- desired
CREATE TABLE t (id int NOT NULL AUTO_INCREMENT PRIMARY KEY, a varchar(20) NULL, b int NOT NULL DEFAULT 0, y year NULL, tm time(3) NULL);
