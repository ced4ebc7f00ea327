-- current
CREATE TABLE k (a int NULL);
-- desired
CREATE TABLE k (id int NOT NULL AUTO_INCREMENT, a int NULL, PRIMARY KEY (id));
