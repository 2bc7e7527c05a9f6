package parquetio

import (
	"encoding/json"
	"math"
	"strconv"

	miniodbv1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

// footerMetadata returns the key/value metadata a file of this schema
// carries: MetaFormat, MetaSchema, and MetaNaN when stats (in schema
// order, as FileMeta's) say a DOUBLE column holds NaN.
func footerMetadata(schema []*miniodbv1.Column, stats []*miniodbv1.ColumnStats) map[string]string {
	md := map[string]string{
		MetaFormat: strconv.Itoa(FormatVersion),
		MetaSchema: encodeSchemaJSON(schema),
	}
	if nan := nanColumns(schema, stats); nan != nil {
		b, _ := json.Marshal(nan) // strings only: cannot fail
		md[MetaNaN] = string(b)
	}
	return md
}

func nanColumns(schema []*miniodbv1.Column, stats []*miniodbv1.ColumnStats) []string {
	var out []string
	for i, c := range schema {
		if i >= len(stats) {
			break
		}
		if d, ok := stats[i].GetMax().GetValue().(*miniodbv1.Scalar_Double); ok && math.IsNaN(d.Double) {
			out = append(out, c.Name)
		}
	}
	return out
}
