-- current

-- desired
CREATE TABLE t (id int NOT NULL AUTO_INCREMENT PRIMARY KEY, a varchar(20) NULL, b int NOT NULL DEFAULT 0, g int AS (b * 2) VIRTUAL, c varchar(5) CHARACTER SET latin1 NULL COMMENT 'c', CONSTRAINT b_pos CHECK (b >= 0), KEY b_ix (b) COMMENT 'x') COMMENT='all';
