package query

import "testing"

// TestTravels: partial column types that Parquet carries exactly, nested
// ones included; HUGEINT only at the top, where it is cast.
func TestTravels(t *testing.T) {
	for _, tc := range []struct {
		typ  string
		want bool
	}{
		{"BIGINT", true},
		{"HUGEINT", true},
		{"DECIMAL(18,3)", true},
		{"VARCHAR[]", true},
		{"HUGEINT[]", false},
		{"STRUCT(__n1 BOOLEAN, __o1 TIMESTAMP, __v VARCHAR)[]", true},
		{`STRUCT("a ""b"", c" INTEGER, __v DECIMAL(10,2))[]`, true},
		{"STRUCT(__v STRUCT(x INTEGER, y VARCHAR[]))[]", true},
		{"STRUCT(__v MAP(VARCHAR, INTEGER))[]", false},
		{"STRUCT(__v HUGEINT)[]", false},
		{"INTEGER[3]", false},
		{"STRUCT()", false},
		{"UNION(a INTEGER)", false},
	} {
		if got := travels(tc.typ, true); got != tc.want {
			t.Errorf("travels(%s) = %v, want %v", tc.typ, got, tc.want)
		}
	}
}
