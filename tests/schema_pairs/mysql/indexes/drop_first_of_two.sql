-- current
CREATE TABLE t (id int NOT NULL PRIMARY KEY, a int NULL, b int NULL, KEY z_ix (b), KEY a_ix (a));
-- desired
CREATE TABLE t (id int NOT NULL PRIMARY KEY, a int NULL, b int NULL, KEY a_ix (a));
