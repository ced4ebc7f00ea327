-- current
CREATE TABLE t (id int NOT NULL PRIMARY KEY, title varchar(50) NOT NULL, slug varchar(60) AS (lower(title)) STORED, KEY slug (slug), KEY title (title));
-- desired
CREATE TABLE t (id int NOT NULL PRIMARY KEY, title varchar(50) NOT NULL, slug varchar(60) AS (lower(replace(title, ' ', '-'))) STORED, KEY slug (slug), KEY title (title));
