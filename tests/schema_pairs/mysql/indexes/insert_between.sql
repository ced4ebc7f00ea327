-- current
CREATE TABLE t (id int NOT NULL PRIMARY KEY, a int NULL, b int NULL, c int NULL, KEY z_ix (b), KEY a_ix (a));
-- desired
CREATE TABLE t (id int NOT NULL PRIMARY KEY, a int NULL, b int NULL, c int NULL, KEY z_ix (b), KEY m_ix (c), KEY a_ix (a));
