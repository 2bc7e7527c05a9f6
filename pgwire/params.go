package pgwire

import (
	"fmt"
	"strconv"
	"strings"
)

// skip returns the index just past the string literal, quoted
// identifier, comment or dollar-quoted string that starts at sql[i], or i
// if none does.
func skip(sql string, i int) int {
	switch c := sql[i]; {
	case c == '\'' || c == '"':
		// A doubled quote stays inside.
		j := i + 1
		for j < len(sql) {
			if sql[j] == c {
				if j+1 < len(sql) && sql[j+1] == c {
					j += 2
					continue
				}
				return j + 1
			}
			j++
		}
		return len(sql)
	case c == '-' && strings.HasPrefix(sql[i:], "--"):
		if k := strings.IndexByte(sql[i:], '\n'); k >= 0 {
			return i + k + 1
		}
		return len(sql)
	case c == '/' && strings.HasPrefix(sql[i:], "/*"):
		if k := strings.Index(sql[i+2:], "*/"); k >= 0 {
			return i + k + 4
		}
		return len(sql)
	case c == '$' && i+1 < len(sql) && !(sql[i+1] >= '0' && sql[i+1] <= '9'):
		// $tag$ … $tag$: a dollar-quoted string.
		k := strings.IndexByte(sql[i+1:], '$')
		if k < 0 {
			return i
		}
		tag := sql[i : i+k+2]
		if strings.ContainsAny(tag[1:len(tag)-1], " \t\n;()'\"") {
			return i
		}
		if e := strings.Index(sql[i+len(tag):], tag); e >= 0 {
			return i + len(tag) + e + len(tag)
		}
		return len(sql)
	}
	return i
}

// placeholders returns the byte ranges of $n parameters in a statement,
// outside string literals, quoted identifiers, dollar-quoted strings and
// comments, and the highest n.
func placeholders(sql string) (spans [][3]int, most int) {
	for i := 0; i < len(sql); {
		if j := skip(sql, i); j > i {
			i = j
			continue
		}
		if sql[i] == '$' {
			j := i + 1
			for j < len(sql) && sql[j] >= '0' && sql[j] <= '9' {
				j++
			}
			if j > i+1 {
				n, _ := strconv.Atoi(sql[i+1 : j])
				spans = append(spans, [3]int{i, j, n})
				most = max(most, n)
				i = j
				continue
			}
		}
		i++
	}
	return spans, most
}

// splitStatements cuts a simple query into its statements at the
// semicolons outside literals and comments; empty statements are dropped.
func splitStatements(sql string) []string {
	var out []string
	start := 0
	for i := 0; i < len(sql); {
		if j := skip(sql, i); j > i {
			i = j
			continue
		}
		if sql[i] == ';' {
			if s := strings.TrimSpace(sql[start:i]); s != "" {
				out = append(out, s)
			}
			start = i + 1
		}
		i++
	}
	if s := strings.TrimSpace(sql[start:]); s != "" {
		out = append(out, s)
	}
	return out
}

// bindParams puts the parameters into the statement as literals: NULL, a
// number as it is when the client declared a numeric type for it, and
// otherwise a string literal with its quotes doubled (DuckDB casts a
// string literal to the type it is compared with).
func bindParams(sql string, oids []uint32, values [][]byte, formats []int16) (string, error) {
	spans, most := placeholders(sql)
	if most > len(values) {
		return "", fmt.Errorf("the statement uses $%d but %d parameters were bound", most, len(values))
	}
	if len(spans) == 0 {
		return sql, nil
	}
	var b strings.Builder
	last := 0
	for _, sp := range spans {
		b.WriteString(sql[last:sp[0]])
		k := sp[2] - 1
		if k < 0 {
			return "", fmt.Errorf("parameter $0 does not exist")
		}
		lit, err := literal(k, oids, values, formats)
		if err != nil {
			return "", err
		}
		b.WriteString(lit)
		last = sp[1]
	}
	b.WriteString(sql[last:])
	return b.String(), nil
}

func literal(k int, oids []uint32, values [][]byte, formats []int16) (string, error) {
	v := values[k]
	if v == nil {
		return "NULL", nil
	}
	format := int16(0)
	switch {
	case len(formats) == 1:
		format = formats[0]
	case k < len(formats):
		format = formats[k]
	}
	var oid uint32
	if k < len(oids) {
		oid = oids[k]
	}
	if format != 0 {
		return "", fmt.Errorf("parameter $%d is in binary format; MinIODB takes parameters as text", k+1)
	}
	s := string(v)
	switch oid {
	case 20, 21, 23, 700, 701, 1700: // int8, int2, int4, float4, float8, numeric
		if _, err := strconv.ParseFloat(s, 64); err != nil {
			return "", fmt.Errorf("parameter $%d: %q is not a number", k+1, s)
		}
		return s, nil
	case 16: // bool
		if b, err := strconv.ParseBool(s); err == nil {
			return strconv.FormatBool(b), nil
		}
		return "", fmt.Errorf("parameter $%d: %q is not a boolean", k+1, s)
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'", nil
}
