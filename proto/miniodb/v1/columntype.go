package miniodbv1

// This file is written by hand (the *.pb.go files beside it are
// generated): the one place that names column types in SQL.

// SQLName returns the SQL (DuckDB) name of a column type: BIGINT, DOUBLE,
// VARCHAR, BOOLEAN, TIMESTAMP or JSON; "" for COLUMN_TYPE_UNSPECIFIED and
// values this version does not know.
func (t ColumnType) SQLName() string {
	switch t {
	case ColumnType_COLUMN_TYPE_BIGINT:
		return "BIGINT"
	case ColumnType_COLUMN_TYPE_DOUBLE:
		return "DOUBLE"
	case ColumnType_COLUMN_TYPE_VARCHAR:
		return "VARCHAR"
	case ColumnType_COLUMN_TYPE_BOOLEAN:
		return "BOOLEAN"
	case ColumnType_COLUMN_TYPE_TIMESTAMP:
		return "TIMESTAMP"
	case ColumnType_COLUMN_TYPE_JSON:
		return "JSON"
	}
	return ""
}
