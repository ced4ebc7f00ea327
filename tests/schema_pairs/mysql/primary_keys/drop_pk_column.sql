-- current
CREATE TABLE k (id int NOT NULL, a int NULL, PRIMARY KEY (id));
-- desired
CREATE TABLE k (a int NULL);
