package objstore

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// DataPrefix is the key prefix under which every data file lives. The orphan
// sweeper lists it; nothing else is ever written under it.
const DataPrefix = "data/"

// KeyInfo is what an object key says about its file. ParseObjectKey returns
// it; ObjectKey builds a key from it.
type KeyInfo struct {
	Table             string
	TableCreatedIndex uint64
	// Partition is "" for an unpartitioned table.
	Partition string
	// The file holds the partition's rows of the Raft entries with index
	// in (FromIndex, UptoIndex].
	FromIndex, UptoIndex uint64
	// Term and Seq identify the upload: the Raft term of the leader that
	// wrote the file and a number that leader never used before in that
	// term. Two uploads therefore never share a key, even for the same
	// rows, so no object is ever overwritten: a leader whose state lags
	// cannot replace a committed file, and a catalog entry always names
	// exactly the bytes that were committed.
	Term, Seq uint64
}

// ObjectKey returns the key of a data file:
//
//	data/<table>/<tableCreatedIndex>/<partition or "_">/<from>-<upto>-<term>-<seq>.parquet
//
// with from, upto, term and seq zero-padded to 20 digits, so the keys of a
// partition sort by row range. tableCreatedIndex is the Raft index that
// created the table, so a table dropped and created again under the same
// name never shares keys with its predecessor. Table and partition are
// escaped (see escapeSegment) so that any string gives a safe, reversible
// key.
func ObjectKey(k KeyInfo) string {
	return formatKey(k)
}

// tablePrefix returns the key prefix of all files of one incarnation of a
// table, ending in "/".
func tablePrefix(table string, tableCreatedIndex uint64) string {
	return DataPrefix + escapeSegment(table) + "/" + strconv.FormatUint(tableCreatedIndex, 10) + "/"
}

// PartitionPrefix returns the key prefix of all files of one partition,
// ending in "/".
func PartitionPrefix(table string, tableCreatedIndex uint64, partition string) string {
	return tablePrefix(table, tableCreatedIndex) + escapeSegment(partition) + "/"
}

func formatKey(k KeyInfo) string {
	var b strings.Builder
	b.Grow(len(DataPrefix) + len(k.Table) + len(k.Partition) + 120)
	b.WriteString(PartitionPrefix(k.Table, k.TableCreatedIndex, k.Partition))
	fmt.Fprintf(&b, "%020d-%020d-%020d-%020d.parquet", k.FromIndex, k.UptoIndex, k.Term, k.Seq)
	return b.String()
}

// ParseObjectKey is the inverse of ObjectKey. It
// accepts only keys in canonical form, so ParseObjectKey(k) succeeding means
// formatting the result gives k back.
func ParseObjectKey(key string) (KeyInfo, error) {
	fail := func(why string) (KeyInfo, error) {
		return KeyInfo{}, fmt.Errorf("objstore: object key %q: %s", key, why)
	}
	rest, ok := strings.CutPrefix(key, DataPrefix)
	if !ok {
		return fail("does not start with " + DataPrefix)
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 4 {
		return fail("want data/<table>/<created index>/<partition>/<file>.parquet")
	}
	var k KeyInfo
	var err error
	if k.Table, err = unescapeSegment(parts[0]); err != nil {
		return fail("table: " + err.Error())
	}
	if k.TableCreatedIndex, err = parseCanonicalUint(parts[1], false); err != nil {
		return fail("created index: " + err.Error())
	}
	if k.Partition, err = unescapeSegment(parts[2]); err != nil {
		return fail("partition: " + err.Error())
	}
	name, ok := strings.CutSuffix(parts[3], ".parquet")
	if !ok {
		return fail("file name does not end in .parquet")
	}
	fields := strings.Split(name, "-")
	if len(fields) != 4 {
		return fail("want <from>-<upto>-<term>-<seq>.parquet")
	}
	for i, dst := range []*uint64{&k.FromIndex, &k.UptoIndex, &k.Term, &k.Seq} {
		if *dst, err = parseCanonicalUint(fields[i], true); err != nil {
			return fail([]string{"from index", "upto index", "term", "seq"}[i] + ": " + err.Error())
		}
	}
	if k.FromIndex >= k.UptoIndex {
		return fail("from index is not below upto index")
	}
	return k, nil
}

// parseCanonicalUint parses a decimal uint64 that is either zero-padded to 20
// digits (padded) or has no leading zeros (not padded).
func parseCanonicalUint(s string, padded bool) (uint64, error) {
	if padded && len(s) != 20 {
		return 0, fmt.Errorf("%q is not 20 digits", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%q is not a decimal number", s)
		}
	}
	if !padded && (s == "" || (len(s) > 1 && s[0] == '0')) {
		return 0, fmt.Errorf("%q is not a canonical decimal number", s)
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is out of range", s)
	}
	return n, nil
}

// escapeSegment makes s safe as one key segment on every object store and
// file system: bytes other than [A-Za-z0-9_-] become %XX (upper-case hex),
// so "/", ".", "%" and non-ASCII never appear raw. The empty string becomes
// "_" and the string "_" becomes "%5F", so the mapping stays reversible.
// Partitions such as "2026-01-02T13" and ordinary table names are unchanged.
func escapeSegment(s string) string {
	if s == "" {
		return "_"
	}
	if s == "_" {
		return "%5F"
	}
	clean := true
	for i := 0; i < len(s); i++ {
		if !isSafeByte(s[i]) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) * 3)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isSafeByte(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

var errBadEscape = errors.New("bad escape")

// unescapeSegment inverts escapeSegment and rejects anything escapeSegment
// would not have produced.
func unescapeSegment(s string) (string, error) {
	if s == "_" {
		return "", nil
	}
	if s == "" {
		return "", errors.New("empty segment")
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isSafeByte(c):
			b.WriteByte(c)
		case c == '%' && i+2 < len(s) && isUpperHex(s[i+1]) && isUpperHex(s[i+2]):
			v := unhex(s[i+1])<<4 | unhex(s[i+2])
			if isSafeByte(v) && !(v == '_' && s == "%5F") {
				return "", fmt.Errorf("%w: %q escapes a safe byte", errBadEscape, s)
			}
			b.WriteByte(v)
			i += 2
		default:
			return "", fmt.Errorf("%w in %q", errBadEscape, s)
		}
	}
	return b.String(), nil
}

func isSafeByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

func isUpperHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'A' && c <= 'F' }

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'A' + 10
}
