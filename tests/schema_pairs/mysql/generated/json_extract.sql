-- current
CREATE TABLE t (id int NOT NULL AUTO_INCREMENT PRIMARY KEY, a varchar(20) NULL, b int NOT NULL DEFAULT 0, doc longtext NULL);
-- desired
CREATE TABLE t (id int NOT NULL AUTO_INCREMENT PRIMARY KEY, a varchar(20) NULL, b int NOT NULL DEFAULT 0, doc longtext NULL, k varchar(20) AS (json_value(doc, '$.k')) VIRTUAL);
