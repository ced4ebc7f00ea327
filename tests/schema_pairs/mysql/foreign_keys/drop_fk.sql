-- current
CREATE TABLE p (id int NOT NULL PRIMARY KEY, name varchar(20) NOT NULL);
CREATE TABLE c (id int NOT NULL PRIMARY KEY, p_id int NULL, CONSTRAINT c_p FOREIGN KEY (p_id) REFERENCES p (id));
-- desired
CREATE TABLE p (id int NOT NULL PRIMARY KEY, name varchar(20) NOT NULL);
CREATE TABLE c (id int NOT NULL PRIMARY KEY, p_id int NULL, KEY c_p (p_id));
