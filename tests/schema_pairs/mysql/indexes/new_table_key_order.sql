-- current

-- desired
CREATE TABLE t (id int NOT NULL PRIMARY KEY, a int NULL, b int NULL, c varchar(20) NULL, KEY z_ix (b), UNIQUE KEY y_u (c), KEY a_ix (a), KEY m_ix (a, b));
