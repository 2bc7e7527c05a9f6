package pgwire

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"
	"google.golang.org/protobuf/types/known/structpb"
)

// serverVersion is what the session reports as server_version: clients
// pick features by it.
const serverVersion = "16.0 (MinIODB)"

type session struct {
	srv    *Server
	conn   net.Conn
	be     *pgproto3.Backend
	ctx    context.Context // the authenticated context of the session's queries
	pid    uint32
	secret []byte
	params map[string]string

	mu     sync.Mutex
	cancel context.CancelFunc // of the running query

	stmts   map[string]*statement
	portals map[string]*portal
	// types encodes values; a pgtype.Map is not safe for concurrent use,
	// so each session has its own.
	types *pgtype.Map
}

type statement struct {
	sql  string
	oids []uint32
	cols []Column // nil until described
}

type portal struct {
	stmt    *statement
	sql     string // with the parameters bound
	formats []int16
	cols    []Column
	rows    [][]*structpb.Value // run at Describe or Execute, sent by Execute
	ran     bool
	sent    int
}

func (ss *session) cancelQuery() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.cancel != nil {
		ss.cancel()
	}
}

func (ss *session) run() error {
	ss.be = pgproto3.NewBackend(ss.conn, ss.conn)
	for {
		msg, err := ss.be.ReceiveStartupMessage()
		if err != nil {
			return err
		}
		switch m := msg.(type) {
		case *pgproto3.SSLRequest:
			if ss.srv.tls == nil {
				if _, err := ss.conn.Write([]byte{'N'}); err != nil {
					return err
				}
				continue
			}
			if _, err := ss.conn.Write([]byte{'S'}); err != nil {
				return err
			}
			tc := tls.Server(ss.conn, ss.srv.tls)
			if err := tc.Handshake(); err != nil {
				return err
			}
			ss.conn = tc
			ss.be = pgproto3.NewBackend(tc, tc)
		case *pgproto3.GSSEncRequest:
			if _, err := ss.conn.Write([]byte{'N'}); err != nil {
				return err
			}
		case *pgproto3.CancelRequest:
			ss.srv.cancel(m.ProcessID, m.SecretKey)
			return nil
		case *pgproto3.StartupMessage:
			return ss.serve(m)
		default:
			return fmt.Errorf("pgwire: unexpected startup message %T", msg)
		}
	}
}

func (ss *session) fatal(code, msg string) error {
	ss.be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: code, Message: msg})
	return ss.be.Flush()
}

func (ss *session) serve(start *pgproto3.StartupMessage) error {
	ss.params = map[string]string{
		"server_version": serverVersion, "server_encoding": "UTF8", "client_encoding": "UTF8",
		"DateStyle": "ISO, MDY", "TimeZone": "UTC", "integer_datetimes": "on",
		"standard_conforming_strings": "on", "IntervalStyle": "postgres",
		"application_name": start.Parameters["application_name"],
	}
	user := start.Parameters["user"]
	ctx := context.Background()
	if ss.srv.backend.NeedsPassword() {
		if _, isTLS := ss.conn.(*tls.Conn); !isTLS && !loopback(ss.conn.RemoteAddr()) {
			return ss.fatal(stateInvalidAuth, "this server takes a token as password only over TLS (sslmode=require) or from a loopback address")
		}
		ss.be.Send(&pgproto3.AuthenticationCleartextPassword{})
		if err := ss.be.Flush(); err != nil {
			return err
		}
		if err := ss.be.SetAuthType(pgproto3.AuthTypeCleartextPassword); err != nil {
			return err
		}
		msg, err := ss.be.Receive()
		if err != nil {
			return err
		}
		pw, ok := msg.(*pgproto3.PasswordMessage)
		if !ok {
			return ss.fatal(stateProtocolViolation, "expected a password message")
		}
		if ctx, err = ss.srv.backend.Authenticate(ctx, user, pw.Password, ss.conn.RemoteAddr().String()); err != nil {
			code, text := ss.srv.backend.SQLState(err)
			if code == "" {
				code = stateInvalidAuth
			}
			return ss.fatal(code, text)
		}
	}
	ss.ctx = ctx
	ss.pid, ss.secret = ss.srv.register(ss)
	defer ss.srv.unregister(ss.pid)
	ss.be.Send(&pgproto3.AuthenticationOk{})
	for _, k := range []string{"server_version", "server_encoding", "client_encoding", "DateStyle", "TimeZone", "integer_datetimes", "standard_conforming_strings", "IntervalStyle", "application_name"} {
		ss.be.Send(&pgproto3.ParameterStatus{Name: k, Value: ss.params[k]})
	}
	ss.be.Send(&pgproto3.BackendKeyData{ProcessID: ss.pid, SecretKey: ss.secret})
	ss.be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
	if err := ss.be.Flush(); err != nil {
		return err
	}
	ss.stmts, ss.portals, ss.types = map[string]*statement{}, map[string]*portal{}, pgtype.NewMap()
	skipToSync := false // after an error in the extended protocol
	for {
		msg, err := ss.be.Receive()
		if err != nil {
			return err
		}
		if skipToSync {
			if _, ok := msg.(*pgproto3.Sync); !ok {
				if _, ok := msg.(*pgproto3.Terminate); ok {
					return nil
				}
				continue
			}
			skipToSync = false
		}
		var opErr error
		switch m := msg.(type) {
		case *pgproto3.Query:
			ss.simpleQuery(m.String)
			ss.be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
			if err := ss.be.Flush(); err != nil {
				return err
			}
			continue
		case *pgproto3.Parse:
			ss.stmts[m.Name] = &statement{sql: m.Query, oids: m.ParameterOIDs}
			ss.be.Send(&pgproto3.ParseComplete{})
		case *pgproto3.Bind:
			opErr = ss.bind(m)
		case *pgproto3.Describe:
			opErr = ss.describe(m)
		case *pgproto3.Execute:
			opErr = ss.execute(m)
		case *pgproto3.Close:
			if m.ObjectType == 'S' {
				delete(ss.stmts, m.Name)
			} else {
				delete(ss.portals, m.Name)
			}
			ss.be.Send(&pgproto3.CloseComplete{})
		case *pgproto3.Sync:
			delete(ss.portals, "") // the unnamed portal ends with the transaction
			ss.be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
			if err := ss.be.Flush(); err != nil {
				return err
			}
			continue
		case *pgproto3.Flush:
		case *pgproto3.Terminate:
			return nil
		default:
			opErr = protoErr(stateFeature, "MinIODB does not support %T", msg)
		}
		if opErr != nil {
			ss.be.Send(ss.srv.errorResponse(opErr))
			skipToSync = true
		}
		if _, ok := msg.(*pgproto3.Flush); ok || opErr != nil {
			if err := ss.be.Flush(); err != nil {
				return err
			}
		}
	}
}

// simpleQuery answers a Query message: each statement's text results in
// turn, up to the first error.
func (ss *session) simpleQuery(sql string) {
	stmts := splitStatements(sql)
	if len(stmts) == 0 {
		ss.be.Send(&pgproto3.EmptyQueryResponse{})
		return
	}
	for _, stmt := range stmts {
		if tag, ok := isNoop(stmt); ok {
			ss.be.Send(&pgproto3.CommandComplete{CommandTag: []byte(tag)})
			continue
		}
		p := &portal{sql: stmt}
		if err := ss.runPortal(p); err != nil {
			ss.be.Send(ss.srv.errorResponse(err))
			return
		}
		ss.be.Send(ss.rowDescription(p.cols, nil))
		if err := ss.sendRows(p, 0); err != nil {
			ss.be.Send(ss.srv.errorResponse(err))
			return
		}
	}
}

func (ss *session) bind(m *pgproto3.Bind) error {
	st, ok := ss.stmts[m.PreparedStatement]
	if !ok {
		return protoErr(stateUndefinedPrepared, "prepared statement %q does not exist", m.PreparedStatement)
	}
	sql, err := bindParams(st.sql, st.oids, m.Parameters, m.ParameterFormatCodes)
	if err != nil {
		return protoErr(stateInvalidParameter, "%v", err)
	}
	ss.portals[m.DestinationPortal] = &portal{stmt: st, sql: sql, formats: m.ResultFormatCodes}
	ss.be.Send(&pgproto3.BindComplete{})
	return nil
}

func (ss *session) describe(m *pgproto3.Describe) error {
	if m.ObjectType == 'S' {
		st, ok := ss.stmts[m.Name]
		if !ok {
			return protoErr(stateUndefinedPrepared, "prepared statement %q does not exist", m.Name)
		}
		_, most := placeholders(st.sql)
		oids := make([]uint32, most)
		for i := range oids {
			if i < len(st.oids) && st.oids[i] != 0 {
				oids[i] = st.oids[i]
			} else {
				oids[i] = 0 // unknown: the client sends text of its own choosing
			}
		}
		ss.be.Send(&pgproto3.ParameterDescription{ParameterOIDs: oids})
		if _, ok := isNoop(st.sql); ok {
			ss.be.Send(&pgproto3.NoData{})
			return nil
		}
		if st.cols == nil {
			// The columns, from the statement with NULL parameters and no
			// rows.
			nulls := make([][]byte, most)
			sql, err := bindParams(st.sql, nil, nulls, nil)
			if err != nil {
				return protoErr(stateInvalidParameter, "%v", err)
			}
			p := &portal{sql: "SELECT * FROM (" + trimStatement(sql) + ") AS q LIMIT 0"}
			if err := ss.runPortal(p); err != nil {
				return err
			}
			st.cols = p.cols
		}
		ss.be.Send(ss.rowDescription(st.cols, nil))
		return nil
	}
	p, ok := ss.portals[m.Name]
	if !ok {
		return protoErr(stateUndefinedCursor, "portal %q does not exist", m.Name)
	}
	if _, ok := isNoop(p.sql); ok {
		ss.be.Send(&pgproto3.NoData{})
		return nil
	}
	if err := ss.runPortal(p); err != nil {
		return err
	}
	ss.be.Send(ss.rowDescription(p.cols, p.formats))
	return nil
}

func (ss *session) execute(m *pgproto3.Execute) error {
	p, ok := ss.portals[m.Portal]
	if !ok {
		return protoErr(stateUndefinedCursor, "portal %q does not exist", m.Portal)
	}
	if tag, ok := isNoop(p.sql); ok {
		ss.be.Send(&pgproto3.CommandComplete{CommandTag: []byte(tag)})
		return nil
	}
	if err := ss.runPortal(p); err != nil {
		return err
	}
	return ss.sendRows(p, int(m.MaxRows))
}

// trimStatement drops trailing semicolons and space.
func trimStatement(sql string) string {
	return strings.TrimRight(strings.TrimSpace(sql), "; \t\r\n")
}

// runPortal runs the portal's statement once, keeping its result.
// Results are held in memory until sent: a portal answers Describe and
// then Execute from one run (limits on the query path bound it).
func (ss *session) runPortal(p *portal) error {
	if p.ran {
		return nil
	}
	ctx, cancel := context.WithCancel(ss.ctx)
	ss.mu.Lock()
	ss.cancel = cancel
	ss.mu.Unlock()
	defer func() {
		ss.mu.Lock()
		ss.cancel = nil
		ss.mu.Unlock()
		cancel()
	}()
	onColumns := func(cols []Column) error {
		p.cols = cols
		return nil
	}
	onRow := func(row []*structpb.Value) error {
		p.rows = append(p.rows, row)
		return nil
	}
	var err error
	if isCatalogQuery(p.sql) {
		var tables []TableSchema
		if tables, err = ss.srv.backend.Tables(ctx); err == nil {
			err = ss.srv.catalog.query(ctx, trimStatement(p.sql), tables, onColumns, onRow)
		}
	} else {
		err = ss.srv.backend.Query(ctx, trimStatement(p.sql), onColumns, onRow)
	}
	if err != nil {
		return err
	}
	p.ran = true
	return nil
}

// format is the result format of column i.
func format(formats []int16, i int) int16 {
	switch {
	case len(formats) == 1:
		return formats[0]
	case i < len(formats):
		return formats[i]
	}
	return 0
}

func (ss *session) rowDescription(cols []Column, formats []int16) *pgproto3.RowDescription {
	rd := &pgproto3.RowDescription{Fields: make([]pgproto3.FieldDescription, len(cols))}
	for i, c := range cols {
		t := typeOf(c.Type)
		rd.Fields[i] = pgproto3.FieldDescription{Name: []byte(c.Name), DataTypeOID: t.oid, DataTypeSize: t.size, TypeModifier: -1, Format: format(formats, i)}
	}
	return rd
}

// sendRows sends up to max rows (0: all) of the portal and the command
// tag, or PortalSuspended when rows are left.
func (ss *session) sendRows(p *portal, most int) error {
	types := make([]pgType, len(p.cols))
	for i, c := range p.cols {
		types[i] = typeOf(c.Type)
	}
	for n := 0; p.sent < len(p.rows); p.sent, n = p.sent+1, n+1 {
		if most > 0 && n == most {
			ss.be.Send(&pgproto3.PortalSuspended{})
			return nil
		}
		row := p.rows[p.sent]
		dr := &pgproto3.DataRow{Values: make([][]byte, len(row))}
		for i, v := range row {
			if v == nil {
				continue
			}
			if _, null := v.Kind.(*structpb.Value_NullValue); null {
				continue
			}
			gv, err := types[i].conv(v)
			if err != nil {
				return fmt.Errorf("pgwire: column %s: %w", p.cols[i].Name, err)
			}
			b, err := ss.types.Encode(types[i].oid, format(p.formats, i), gv, nil)
			if err != nil {
				return fmt.Errorf("pgwire: column %s: %w", p.cols[i].Name, err)
			}
			dr.Values[i] = b
		}
		ss.be.Send(dr)
	}
	ss.be.Send(&pgproto3.CommandComplete{CommandTag: fmt.Appendf(nil, "SELECT %d", len(p.rows))})
	return nil
}

func loopback(a net.Addr) bool {
	t, ok := a.(*net.TCPAddr)
	return ok && t.IP.IsLoopback()
}
