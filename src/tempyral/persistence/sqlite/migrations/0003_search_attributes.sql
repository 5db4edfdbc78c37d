-- Custom search attributes registered through the OperatorService, per namespace.
CREATE TABLE search_attributes (
    namespace  TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    value_type INTEGER NOT NULL,
    PRIMARY KEY (namespace, name)
) WITHOUT ROWID;
