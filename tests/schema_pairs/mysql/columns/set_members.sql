-- current
CREATE TABLE t (id int NOT NULL AUTO_INCREMENT PRIMARY KEY, a varchar(20) NULL, b int NOT NULL DEFAULT 0, s set('x','y') NULL);
-- desired
CREATE TABLE t (id int NOT NULL AUTO_INCREMENT PRIMARY KEY, a varchar(20) NULL, b int NOT NULL DEFAULT 0, s set('x','y','z') NULL);
