-- current
CREATE TABLE k (a int NOT NULL, b int NOT NULL, PRIMARY KEY (a));
-- desired
CREATE TABLE k (a int NOT NULL, b int NOT NULL, PRIMARY KEY (a, b));
