-- current
CREATE TABLE t (id int NOT NULL PRIMARY KEY, a int NULL, b int NULL);
-- desired
CREATE TABLE t (id int NOT NULL PRIMARY KEY, a int NULL, b int NULL, CONSTRAINT z_b CHECK (b > 0), CONSTRAINT a_a CHECK (a > 0));
