package raftfsm

import (
	"crypto/sha256"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

// TestData runs the apply sequences under testdata/: each directive
// applies one command at the next Raft index and prints its result, and
// dump prints the state. Directives:
//
//	insert table=T [req=ID]     lines "partition column:TYPE rows" (batch helper)
//	flush table=T part=P from=F upto=U rows=R [created=C] [key=K] [tsmax=M] [expired=E]
//	expire table=T cutoff=C [created=C]  lines: file keys
//	compact table=T part=P key=K rows=R [created=C] [watermark=W] [deleted=D]   lines: input keys
//	alter table=T [min=N] [ttl=MS] [created=C]
//	rows table=T part=P [upsert]         lines: "id ts" (id "-" is NULL)
//	delete table=T [ids=a,b] [from=F to=T]
//	drop table=T
//	forget                      lines: object keys
//	token id=ID role=R [tables=a,b] [bootstrap] [secret=S] [audit]
//	revoke id=ID [audit]        audit: the command carries an audit record
//	dump                        the tables, files, hot batches, pending deletes
//	snapshot                    snapshot, restore into a new FSM, compare
//
// go test ./raftfsm -run TestData -rewrite regenerates the outputs.
func TestData(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		h := &harness{t: t, fsm: New(nil)}
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			var table string
			if td.HasArg("table") {
				td.ScanArgs(t, "table", &table)
			}
			switch td.Cmd {
			case "insert":
				var req string
				if td.HasArg("req") {
					td.ScanArgs(t, "req", &req)
				}
				parts := map[string]*v1.RowBatch{}
				for _, line := range strings.Split(strings.TrimSpace(td.Input), "\n") {
					f := strings.Fields(line)
					col, typ, _ := strings.Cut(f[1], ":")
					rows, err := strconv.Atoi(f[2])
					ct, ok := v1.ColumnType_value["COLUMN_TYPE_"+typ]
					if len(f) != 3 || err != nil || !ok {
						t.Fatalf("%s: want \"partition column:TYPE rows\", got %q", td.Pos, line)
					}
					parts[f[0]] = batch(rows, col, v1.ColumnType(ct))
				}
				return result(h.apply(insert(table, req, parts)))
			case "flush":
				var part string
				var from, upto, created uint64 = 0, 0, 1
				var rows int64
				td.ScanArgs(t, "part", &part)
				td.ScanArgs(t, "from", &from)
				td.ScanArgs(t, "upto", &upto)
				td.ScanArgs(t, "rows", &rows)
				td.MaybeScanArgs(t, "created", &created)
				c := flushCommit(table, created, part, from, upto, rows)
				if td.HasArg("key") {
					td.ScanArgs(t, "key", &c.GetFlushCommit().File.Key)
				}
				if td.HasArg("tsmax") {
					var m int64
					td.ScanArgs(t, "tsmax", &m)
					c.GetFlushCommit().File.Stats = []*v1.ColumnStats{{Name: "ts", Max: &v1.Scalar{Value: &v1.Scalar_Int{Int: m}}}}
				}
				td.MaybeScanArgs(t, "expired", &c.GetFlushCommit().ExpiredRows)
				return result(h.apply(c))
			case "compact":
				var part, key string
				var rows, deleted int64
				var created uint64 = 1
				watermark := h.index
				td.ScanArgs(t, "part", &part)
				td.ScanArgs(t, "key", &key)
				td.ScanArgs(t, "rows", &rows)
				td.MaybeScanArgs(t, "created", &created)
				td.MaybeScanArgs(t, "watermark", &watermark)
				td.MaybeScanArgs(t, "deleted", &deleted)
				return result(h.apply(&v1.Command{Cmd: &v1.Command_CompactionCommit{CompactionCommit: &v1.CompactionCommitCommand{
					Table: table, TableCreatedIndex: created, Partition: part, Inputs: strings.Fields(td.Input), UnixMicros: 42,
					Output:             &v1.DataFile{Key: key, Table: table, Partition: part, RowCount: rows},
					TombstoneWatermark: watermark, DeletedRows: deleted,
				}}}))
			case "rows":
				var part string
				td.ScanArgs(t, "part", &part)
				cols := []*v1.Column{{Name: "ts", Type: tTimestamp}, {Name: "id", Type: tVarchar}}
				b := &v1.RowBatch{Columns: cols, Vectors: []*v1.ColumnVector{{}, {}}}
				for _, line := range strings.Split(strings.TrimSpace(td.Input), "\n") {
					var id string
					var ts int64
					if _, err := fmt.Sscan(line, &id, &ts); err != nil {
						t.Fatalf("%s: want \"id ts\", got %q", td.Pos, line)
					}
					b.Vectors[0].Ints = append(b.Vectors[0].Ints, ts)
					b.Vectors[1].Strings = append(b.Vectors[1].Strings, strings.TrimPrefix(id, "-"))
					if id == "-" {
						for len(b.Vectors[1].Nulls) <= int(b.RowCount)/8 {
							b.Vectors[1].Nulls = append(b.Vectors[1].Nulls, 0)
						}
						b.Vectors[1].Nulls[b.RowCount/8] |= 1 << (b.RowCount % 8)
					}
					b.RowCount++
				}
				if n := len(b.Vectors[1].Nulls); n > 0 && n < int(b.RowCount+7)/8 {
					b.Vectors[1].Nulls = append(b.Vectors[1].Nulls, make([]byte, int(b.RowCount+7)/8-n)...)
				}
				c := insert(table, "", map[string]*v1.RowBatch{part: b})
				c.GetInsert().Upsert = td.HasArg("upsert")
				return result(h.apply(c))
			case "delete":
				m := &v1.Tombstone{}
				if td.HasArg("ids") {
					var ids string
					td.ScanArgs(t, "ids", &ids)
					m.Ids = strings.Split(ids, ",")
				}
				if td.HasArg("from") {
					m.HasRange = true
					td.ScanArgs(t, "from", &m.FromMicros)
					td.ScanArgs(t, "to", &m.ToMicros)
				}
				return result(h.apply(&v1.Command{Cmd: &v1.Command_Delete{Delete: &v1.DeleteCommand{Table: table, Match: m}}}))
			case "expire":
				var cutoff int64
				var created uint64 = 1
				td.ScanArgs(t, "cutoff", &cutoff)
				td.MaybeScanArgs(t, "created", &created)
				return result(h.apply(&v1.Command{Cmd: &v1.Command_Expire{Expire: &v1.ExpireCommand{
					Table: table, TableCreatedIndex: created, CutoffMicros: cutoff, Files: strings.Fields(td.Input), UnixMicros: 42,
				}}}))
			case "alter":
				var created uint64
				var minFiles int
				td.MaybeScanArgs(t, "created", &created)
				td.MaybeScanArgs(t, "min", &minFiles)
				alter := &v1.AlterTableCommand{Name: table, TableCreatedIndex: created}
				if td.HasArg("min") {
					alter.Compaction = &v1.CompactionPolicy{MinFiles: int32(minFiles)}
				}
				if td.HasArg("ttl") {
					var ttl int64
					td.ScanArgs(t, "ttl", &ttl)
					alter.TtlMs = &ttl
				}
				return result(h.apply(&v1.Command{Cmd: &v1.Command_AlterTable{AlterTable: alter}}))
			case "drop":
				return result(h.apply(&v1.Command{Cmd: &v1.Command_DropTable{DropTable: &v1.DropTableCommand{Name: table, UnixMicros: 42}}}))
			case "forget":
				keys := strings.Fields(td.Input)
				return result(h.apply(&v1.Command{Cmd: &v1.Command_ForgetObjects{ForgetObjects: &v1.ForgetObjectsCommand{Keys: keys}}}))
			case "token":
				var id, role, tables, secret string
				td.ScanArgs(t, "id", &id)
				td.ScanArgs(t, "role", &role)
				td.MaybeScanArgs(t, "tables", &tables)
				td.MaybeScanArgs(t, "secret", &secret)
				if secret == "" {
					secret = id
				}
				sum := sha256.Sum256([]byte(secret))
				rec := &v1.TokenRecord{Id: id, Role: role, SecretSha256: sum[:], CreatedUnixMicros: 42}
				if tables != "" {
					rec.Tables = strings.Split(tables, ",")
				}
				c := &v1.Command{Cmd: &v1.Command_CreateToken{CreateToken: &v1.CreateTokenCommand{Token: rec, Bootstrap: td.HasArg("bootstrap")}}}
				if td.HasArg("audit") {
					c.Audit = &v1.AuditRecord{UnixMicros: 42, Actor: "root", Action: "token.create", Target: id}
				}
				return result(h.apply(c))
			case "revoke":
				var id string
				td.ScanArgs(t, "id", &id)
				c := &v1.Command{Cmd: &v1.Command_RevokeToken{RevokeToken: &v1.RevokeTokenCommand{Id: id}}}
				if td.HasArg("audit") {
					c.Audit = &v1.AuditRecord{UnixMicros: 43, Actor: "root", Action: "token.revoke", Target: id}
				}
				return result(h.apply(c))
			case "dump":
				return dump(h.fsm)
			case "snapshot":
				restored := New(nil)
				if err := snapshotInto(t, h.fsm, restored); err != nil {
					return "error: " + err.Error() + "\n"
				}
				if a, b := fingerprint(h.fsm), fingerprint(restored); a != b {
					return fmt.Sprintf("restored state differs:\n%s\nvs\n%s", a, b)
				}
				return "restored the same state\n"
			}
			t.Fatalf("%s: unknown directive %q", td.Pos, td.Cmd)
			return ""
		})
	})
}

func result(r *Result) string {
	switch {
	case r.Err != nil:
		return fmt.Sprintf("error: %v\n", r.Err)
	case r.Duplicate:
		return fmt.Sprintf("duplicate of index %d (%d rows)\n", r.Index, r.Rows)
	}
	return fmt.Sprintf("index %d: %d rows\n", r.Index, r.Rows)
}

// dump renders the state a person reviews in a diff.
func dump(f *FSM) string {
	var b strings.Builder
	fmt.Fprintf(&b, "applied %d\n", f.AppliedIndex())
	for _, v := range f.Tables() {
		var cols []string
		for _, c := range v.Spec.Columns {
			cols = append(cols, c.Name+":"+strings.TrimPrefix(c.Type.String(), "COLUMN_TYPE_"))
		}
		fmt.Fprintf(&b, "table %s created %d columns %s\n", v.Spec.Name, v.CreatedIndex, strings.Join(cols, " "))
		if v.Spec.TtlMs != 0 {
			fmt.Fprintf(&b, "  ttl %dms\n", v.Spec.TtlMs)
		}
		if c := v.Spec.Compaction; c != nil {
			fmt.Fprintf(&b, "  compaction target=%d min=%d max=%d cooldown=%dms disabled=%t\n",
				c.TargetFileBytes, c.MinFiles, c.MaxFiles, c.CooldownMs, c.Disabled)
		}
		for _, file := range v.Files {
			fmt.Fprintf(&b, "  file %s (%d, %d] %d rows live at %d\n", file.Key, file.FromIndex, file.UptoIndex, file.RowCount, file.LiveIndex)
		}
		for _, tomb := range v.Tombstones {
			fmt.Fprintf(&b, "  tombstone at %d ids [%s]", tomb.Index, strings.Join(tomb.Ids, " "))
			if tomb.HasRange {
				fmt.Fprintf(&b, " ts in [%d, %d)", tomb.FromMicros, tomb.ToMicros)
			}
			b.WriteString("\n")
		}
		for _, p := range v.Partitions {
			var idx []string
			for _, hb := range p.Batches {
				idx = append(idx, fmt.Sprintf("%d:%d", hb.Index, hb.Rows.RowCount))
			}
			fmt.Fprintf(&b, "  partition %s flushed to %d, %d hot rows in batches [%s]\n", p.Name, p.FlushedUpto, p.Rows, strings.Join(idx, " "))
		}
	}
	for _, p := range f.PendingDeletes() {
		fmt.Fprintf(&b, "pending delete %s\n", p.Key)
	}
	if f.Auth() {
		b.WriteString("auth on\n")
	}
	for _, tok := range f.Tokens() {
		fmt.Fprintf(&b, "token %s %s tables [%s]\n", tok.Id, tok.Role, strings.Join(tok.Tables, " "))
	}
	for _, a := range f.Audit(AuditLimit) {
		fmt.Fprintf(&b, "audit at %d: %s %s %s\n", a.Index, a.Actor, a.Action, a.Target)
	}
	return b.String()
}
