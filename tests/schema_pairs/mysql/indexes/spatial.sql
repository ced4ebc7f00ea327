-- current
CREATE TABLE g (id int NOT NULL PRIMARY KEY, pt point NOT NULL);
-- desired
CREATE TABLE g (id int NOT NULL PRIMARY KEY, pt point NOT NULL, SPATIAL KEY pt_ix (pt));
