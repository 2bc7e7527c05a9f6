package ingest

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// This file is the strict JSON scanner of the JSONArray and NDJSON forms. It
// reads objects of fields straight into the column builders, with no
// intermediate map or reflection. It follows RFC 8259 (no comments, no
// trailing commas, no NaN, strings of valid UTF-8 without raw control
// characters or lone surrogate escapes) and rejects duplicate keys in every
// object, nested ones included.

// parseArray reads a JSON array of objects.
func (p *parser) parseArray(d []byte) error {
	i := ws(d, skipBOM(d))
	if i == len(d) {
		return &RowError{Msg: "empty input: no rows"}
	}
	if d[i] != '[' {
		if k := kindAt(d, i); k != "" {
			return &RowError{Msg: "want a JSON array of objects, got " + k}
		}
		return &RowError{Msg: fmt.Sprintf("invalid JSON at byte %d: want '[', got %s", i, got(d, i))}
	}
	i = ws(d, i+1)
	if i < len(d) && d[i] == ']' {
		if j := ws(d, i+1); j != len(d) {
			return &RowError{Msg: fmt.Sprintf("invalid JSON at byte %d: data after the array", j)}
		}
		return &RowError{Msg: "empty input: no rows"}
	}
	for r := 0; ; r++ {
		if err := p.beginRow(r); err != nil {
			return err
		}
		if i >= len(d) || d[i] != '{' {
			return p.notObject(d, i, r)
		}
		start := i
		var err error
		if i, err = p.object(d, i, r); err != nil {
			return err
		}
		p.endRow(r)
		if r == 0 {
			p.reserve((len(d)-start)/(i-start+1) + 1)
		}
		i = ws(d, i)
		if i < len(d) && d[i] == ',' {
			i = ws(d, i+1)
			continue
		}
		if i < len(d) && d[i] == ']' {
			if j := ws(d, i+1); j != len(d) {
				return &RowError{Msg: fmt.Sprintf("invalid JSON at byte %d: data after the array", j)}
			}
			return nil
		}
		return p.syntax(r, d, i, "want ',' or ']' after a row")
	}
}

// parseNDJSON reads one object per line.
func (p *parser) parseNDJSON(d []byte) error {
	i := skipBOM(d)
	r := 0
	for line := 1; i < len(d); line++ {
		end := bytes.IndexByte(d[i:], '\n')
		if end < 0 {
			end = len(d)
		} else {
			end += i
		}
		ln := d[i:end]
		j := ws(ln, 0)
		if j == len(ln) { // blank line
			i = end + 1
			continue
		}
		p.line, p.base = line, i
		if err := p.beginRow(r); err != nil {
			return err
		}
		if ln[j] != '{' {
			return p.notObject(ln, j, r)
		}
		k, err := p.object(ln, j, r)
		if err != nil {
			return err
		}
		p.endRow(r)
		if r == 0 {
			p.reserve(bytes.Count(d[end:], []byte{'\n'}) + 1)
		}
		if k = ws(ln, k); k != len(ln) {
			return p.syntax(r, ln, k, "want the end of the line after the object")
		}
		r++
		i = end + 1
	}
	return nil
}

// notObject is the error of a row that is not an object.
func (p *parser) notObject(d []byte, i, r int) error {
	if k := kindAt(d, i); k != "" {
		return p.rowErr(r, "", "want a JSON object, got "+k)
	}
	return p.syntax(r, d, i, "want an object")
}

// syntax makes a malformed-JSON error at d[i].
func (p *parser) syntax(r int, d []byte, i int, want string) error {
	g := got(d, i)
	if i >= len(d) && p.line != 0 {
		g = "end of line"
	}
	return p.rowErr(r, "", fmt.Sprintf("invalid JSON at byte %d: %s, got %s", p.base+i, want, g))
}

// object reads the object at d[i] == '{' as row r and returns the offset
// after it.
func (p *parser) object(d []byte, i, r int) (int, error) {
	i = ws(d, i+1)
	if i < len(d) && d[i] == '}' {
		return i + 1, nil
	}
	for k := 0; ; k++ {
		if i >= len(d) || d[i] != '"' {
			return i, p.syntax(r, d, i, "want a field name")
		}
		key, next, err := p.str(d, i, &p.kbuf, r, true)
		if err != nil {
			return i, err
		}
		i = ws(d, next)
		if i >= len(d) || d[i] != ':' {
			return i, p.syntax(r, d, i, "want ':' after a field name")
		}
		i = ws(d, i+1)
		b, err := p.field(key, k, r)
		if err != nil {
			return i, err
		}
		if i, err = p.value(b, d, i, r); err != nil {
			return i, err
		}
		i = ws(d, i)
		if i < len(d) {
			switch d[i] {
			case ',':
				i = ws(d, i+1)
				continue
			case '}':
				return i + 1, nil
			}
		}
		return i, p.syntax(r, d, i, "want ',' or '}' after a field")
	}
}

// value reads the value at d[i] into column b for row r.
func (p *parser) value(b *colBuilder, d []byte, i, r int) (int, error) {
	if i >= len(d) {
		return i, p.syntax(r, d, i, "want a value")
	}
	switch c := d[i]; {
	case c == '"':
		s, next, err := p.str(d, i, &p.vbuf, r, true)
		if err != nil {
			return i, err
		}
		v := scalar{k: kString, s: s, text: d[i:next]}
		return next, p.put(b, r, &v)
	case c == '-' || '0' <= c && c <= '9':
		end, isInt, ok := scanNumber(d, i)
		if !ok {
			return i, p.syntax(r, d, end, "invalid number")
		}
		text := d[i:end]
		v := scalar{k: kFloat, s: text, text: text}
		if isInt {
			if n, ok := parseInt(text); ok {
				v.k, v.i = kInt, n
			} else {
				v.k = kBigInt
			}
		}
		return end, p.put(b, r, &v)
	case c == 't' || c == 'f':
		lit := "true"
		if c == 'f' {
			lit = "false"
		}
		if !hasLit(d, i, lit) {
			return i, p.syntax(r, d, i, "want a value")
		}
		v := scalar{k: kBool, b: c == 't', text: d[i : i+len(lit)]}
		return i + len(lit), p.put(b, r, &v)
	case c == 'n':
		if !hasLit(d, i, "null") {
			return i, p.syntax(r, d, i, "want a value")
		}
		return i + 4, p.null(b, r)
	case c == '{' || c == '[':
		k := kObject
		if c == '[' {
			k = kArray
		}
		if _, ok := p.accept(b, k); !ok {
			return i, p.mismatch(b, r, &scalar{k: k})
		}
		b.pad(r)
		start := len(b.sbuf)
		var err error
		if b.sbuf, i, err = p.compact(b.sbuf, d, i, 1, r); err != nil {
			if re, ok := err.(*RowError); ok && re.Field == "" {
				re.Field = b.name
			}
			return i, err
		}
		if n := len(b.sbuf) - start; n > p.opts.MaxFieldBytes {
			return i, p.tooBig(b, r, n)
		}
		b.send = append(b.send, len(b.sbuf))
		b.n++
		b.nonNull = true
		return i, nil
	}
	return i, p.syntax(r, d, i, "want a value")
}

// str reads the string at d[i] == '"' and returns its decoded content (in
// d when it has no escapes, else in *buf) and the offset after it. With
// decode false it only validates, and content is nil.
func (p *parser) str(d []byte, i int, buf *[]byte, r int, decode bool) (content []byte, next int, err error) {
	j := i + 1
	hi := false
	for j < len(d) {
		c := d[j]
		if c == '"' {
			if hi && !utf8.Valid(d[i+1:j]) {
				return nil, j, p.syntax(r, d, i, "invalid UTF-8 in string")
			}
			if !decode {
				return nil, j + 1, nil
			}
			return d[i+1 : j], j + 1, nil
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return nil, j, p.syntax(r, d, j, "control character in string")
		}
		if c >= 0x80 {
			hi = true
		}
		j++
	}
	var out []byte
	if decode {
		out = append((*buf)[:0], d[i+1:j]...)
	}
	for j < len(d) {
		c := d[j]
		switch {
		case c == '"':
			if hi && !utf8.Valid(d[i+1:j]) {
				return nil, j, p.syntax(r, d, i, "invalid UTF-8 in string")
			}
			if decode {
				*buf = out
			}
			return out, j + 1, nil
		case c == '\\':
			if j+1 >= len(d) {
				return nil, j, p.syntax(r, d, j+1, "unterminated string")
			}
			var ch byte
			switch e := d[j+1]; e {
			case '"', '\\', '/':
				ch = e
			case 'b':
				ch = '\b'
			case 'f':
				ch = '\f'
			case 'n':
				ch = '\n'
			case 'r':
				ch = '\r'
			case 't':
				ch = '\t'
			case 'u':
				r1, ok := hex4(d, j+2)
				if !ok {
					return nil, j, p.syntax(r, d, j, "invalid \\u escape")
				}
				j += 6
				if utf16.IsSurrogate(r1) {
					r2, ok := rune(0), false
					if r1 < 0xDC00 && j+1 < len(d) && d[j] == '\\' && d[j+1] == 'u' {
						r2, ok = hex4(d, j+2)
						ok = ok && 0xDC00 <= r2 && r2 <= 0xDFFF
					}
					if !ok {
						return nil, j - 6, p.syntax(r, d, j-6, "lone UTF-16 surrogate in \\u escape")
					}
					r1 = utf16.DecodeRune(r1, r2)
					j += 6
				}
				if decode {
					out = utf8.AppendRune(out, r1)
				}
				continue
			default:
				return nil, j, p.syntax(r, d, j, "invalid escape in string")
			}
			if decode {
				out = append(out, ch)
			}
			j += 2
		case c < 0x20:
			return nil, j, p.syntax(r, d, j, "control character in string")
		default:
			if c >= 0x80 {
				hi = true
			}
			if decode {
				out = append(out, c)
			}
			j++
		}
	}
	return nil, j, p.syntax(r, d, j, "unterminated string")
}

// compact validates the JSON value at d[i] and appends it to dst without
// insignificant white space. depth is the nesting of the value if it is an
// object or array (1 for a field's value).
func (p *parser) compact(dst, d []byte, i, depth, r int) ([]byte, int, error) {
	if i >= len(d) {
		return dst, i, p.syntax(r, d, i, "want a value")
	}
	switch c := d[i]; {
	case c == '{':
		if depth > p.opts.MaxDepth {
			return dst, i, p.rowErr(r, "", fmt.Sprintf("JSON value nested deeper than %d", p.opts.MaxDepth))
		}
		dst = append(dst, '{')
		i = ws(d, i+1)
		if i < len(d) && d[i] == '}' {
			return append(dst, '}'), i + 1, nil
		}
		keysMark, spansMark := len(p.nkeys), len(p.nspans)
		defer func() { p.nkeys, p.nspans = p.nkeys[:keysMark], p.nspans[:spansMark] }()
		var seen map[string]struct{}
		for {
			if i >= len(d) || d[i] != '"' {
				return dst, i, p.syntax(r, d, i, "want a key")
			}
			key, next, err := p.str(d, i, &p.vbuf, r, true)
			if err != nil {
				return dst, i, err
			}
			if dup := p.dupKey(key, spansMark, &seen); dup {
				return dst, i, p.rowErr(r, "", fmt.Sprintf("duplicate key %s in a JSON object", quoteTrunc(string(key))))
			}
			dst = append(dst, d[i:next]...)
			i = ws(d, next)
			if i >= len(d) || d[i] != ':' {
				return dst, i, p.syntax(r, d, i, "want ':' after a key")
			}
			dst = append(dst, ':')
			if dst, i, err = p.compact(dst, d, ws(d, i+1), depth+1, r); err != nil {
				return dst, i, err
			}
			i = ws(d, i)
			if i < len(d) && d[i] == ',' {
				dst = append(dst, ',')
				i = ws(d, i+1)
				continue
			}
			if i < len(d) && d[i] == '}' {
				return append(dst, '}'), i + 1, nil
			}
			return dst, i, p.syntax(r, d, i, "want ',' or '}' in an object")
		}
	case c == '[':
		if depth > p.opts.MaxDepth {
			return dst, i, p.rowErr(r, "", fmt.Sprintf("JSON value nested deeper than %d", p.opts.MaxDepth))
		}
		dst = append(dst, '[')
		i = ws(d, i+1)
		if i < len(d) && d[i] == ']' {
			return append(dst, ']'), i + 1, nil
		}
		for {
			var err error
			if dst, i, err = p.compact(dst, d, i, depth+1, r); err != nil {
				return dst, i, err
			}
			i = ws(d, i)
			if i < len(d) && d[i] == ',' {
				dst = append(dst, ',')
				i = ws(d, i+1)
				continue
			}
			if i < len(d) && d[i] == ']' {
				return append(dst, ']'), i + 1, nil
			}
			return dst, i, p.syntax(r, d, i, "want ',' or ']' in an array")
		}
	case c == '"':
		_, next, err := p.str(d, i, nil, r, false)
		if err != nil {
			return dst, i, err
		}
		return append(dst, d[i:next]...), next, nil
	case c == '-' || '0' <= c && c <= '9':
		end, _, ok := scanNumber(d, i)
		if !ok {
			return dst, i, p.syntax(r, d, end, "invalid number")
		}
		return append(dst, d[i:end]...), end, nil
	case c == 't' && hasLit(d, i, "true"):
		return append(dst, "true"...), i + 4, nil
	case c == 'f' && hasLit(d, i, "false"):
		return append(dst, "false"...), i + 5, nil
	case c == 'n' && hasLit(d, i, "null"):
		return append(dst, "null"...), i + 4, nil
	}
	return dst, i, p.syntax(r, d, i, "want a value")
}

// dupKey records key among the keys of the object whose spans start at
// mark, and reports whether it was there already. Small objects compare
// linearly; past 32 keys a map takes over.
func (p *parser) dupKey(key []byte, mark int, seen *map[string]struct{}) bool {
	if *seen != nil {
		if _, ok := (*seen)[string(key)]; ok {
			return true
		}
		(*seen)[string(key)] = struct{}{}
		return false
	}
	for s := mark; s < len(p.nspans); s += 2 {
		if bytes.Equal(p.nkeys[p.nspans[s]:p.nspans[s+1]], key) {
			return true
		}
	}
	start := len(p.nkeys)
	p.nkeys = append(p.nkeys, key...)
	p.nspans = append(p.nspans, start, len(p.nkeys))
	if len(p.nspans)-mark > 64 {
		*seen = make(map[string]struct{}, 64)
		for s := mark; s < len(p.nspans); s += 2 {
			(*seen)[string(p.nkeys[p.nspans[s]:p.nspans[s+1]])] = struct{}{}
		}
	}
	return false
}

// scanNumber scans a JSON number at d[i]. isInt: no fraction or exponent.
// When !ok, end is where the number went wrong.
func scanNumber(d []byte, i int) (end int, isInt, ok bool) {
	j := i
	if j < len(d) && d[j] == '-' {
		j++
	}
	switch {
	case j < len(d) && d[j] == '0':
		j++
	case j < len(d) && '1' <= d[j] && d[j] <= '9':
		for j++; j < len(d) && '0' <= d[j] && d[j] <= '9'; j++ {
		}
	default:
		return j, false, false
	}
	isInt = true
	if j < len(d) && d[j] == '.' {
		isInt = false
		j++
		if j >= len(d) || d[j] < '0' || d[j] > '9' {
			return j, false, false
		}
		for ; j < len(d) && '0' <= d[j] && d[j] <= '9'; j++ {
		}
	}
	if j < len(d) && (d[j] == 'e' || d[j] == 'E') {
		isInt = false
		j++
		if j < len(d) && (d[j] == '+' || d[j] == '-') {
			j++
		}
		if j >= len(d) || d[j] < '0' || d[j] > '9' {
			return j, false, false
		}
		for ; j < len(d) && '0' <= d[j] && d[j] <= '9'; j++ {
		}
	}
	return j, isInt, true
}

// parseInt parses a JSON integer literal; false when it overflows int64.
func parseInt(b []byte) (int64, bool) {
	neg := b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) > 19 {
		return 0, false
	}
	var u uint64
	for _, c := range b {
		u = u*10 + uint64(c-'0') // 19 digits cannot overflow uint64
	}
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return -int64(u), true // -(1<<63) wraps to math.MinInt64, as wanted
	}
	if u > math.MaxInt64 {
		return 0, false
	}
	return int64(u), true
}

// parseFloat parses a JSON number (already checked against the grammar) as
// a double. A value beyond the double range is an error; one too small for
// it rounds to zero or a subnormal, as strconv does.
func parseFloat(b []byte) (float64, error) {
	f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(b), len(b)), 64)
	if err != nil {
		return 0, fmt.Errorf("number %s is out of DOUBLE range", truncate(string(b)))
	}
	return f, nil
}

func hex4(d []byte, i int) (rune, bool) {
	if i+4 > len(d) {
		return 0, false
	}
	var v rune
	for _, c := range d[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			v = v<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			v = v<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			v = v<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

func hasLit(d []byte, i int, lit string) bool {
	return len(d)-i >= len(lit) && string(d[i:i+len(lit)]) == lit
}

// ws skips JSON white space.
func ws(d []byte, i int) int {
	for i < len(d) {
		switch d[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

func skipBOM(d []byte) int {
	if len(d) >= 3 && d[0] == 0xEF && d[1] == 0xBB && d[2] == 0xBF {
		return 3
	}
	return 0
}

// kindAt names the JSON kind that starts at d[i], or "" for none.
func kindAt(d []byte, i int) string {
	if i >= len(d) {
		return ""
	}
	switch c := d[i]; {
	case c == '{':
		return "object"
	case c == '[':
		return "array"
	case c == '"':
		return "string"
	case c == '-' || '0' <= c && c <= '9':
		return "number"
	case c == 't' && hasLit(d, i, "true"), c == 'f' && hasLit(d, i, "false"):
		return "boolean"
	case c == 'n' && hasLit(d, i, "null"):
		return "null"
	}
	return ""
}

// got shows the byte at d[i] for a message.
func got(d []byte, i int) string {
	if i >= len(d) {
		return "end of input"
	}
	if c := d[i]; 0x20 <= c && c < 0x7f {
		return "'" + string(c) + "'"
	}
	return fmt.Sprintf("byte 0x%02x", d[i])
}
