package pgwire

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	_ "github.com/duckdb/duckdb-go/v2" // the catalog's DuckDB
	"github.com/jackc/pgx/v5/pgproto3"
	"google.golang.org/protobuf/types/known/structpb"
)

// Column is one result column: its name and DuckDB type name.
type Column struct{ Name, Type string }

// Backend is what the server needs from a MinIODB node.
type Backend interface {
	// NeedsPassword says whether sessions must authenticate.
	NeedsPassword() bool
	// Authenticate checks a password (a MinIODB token) from a client at
	// remote and returns the context the session's queries run in.
	Authenticate(ctx context.Context, user, password, remote string) (context.Context, error)
	// Query runs one read-only statement, handing the columns and then
	// each row (in MinIODB's JSON forms) to the callbacks.
	Query(ctx context.Context, sql string, onColumns func([]Column) error, onRow func([]*structpb.Value) error) error
	// SQLState maps an error to a SQLSTATE code and a message for the
	// client.
	SQLState(err error) (code, message string)
	// Tables lists the tables (and their columns) the session may read,
	// for the catalog queries.
	Tables(ctx context.Context) ([]TableSchema, error)
}

// Server serves PostgreSQL clients.
type Server struct {
	backend Backend
	tls     *tls.Config // nil: no TLS
	logger  *slog.Logger
	catalog catalog

	mu       sync.Mutex
	ln       net.Listener
	conns    map[net.Conn]struct{}
	sessions map[uint32]*session // by process id, for CancelRequest
	closed   bool
	wg       sync.WaitGroup
}

// NewServer returns a server for the backend; tlsConfig may be nil.
func NewServer(b Backend, tlsConfig *tls.Config, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Server{backend: b, tls: tlsConfig, logger: logger,
		conns: map[net.Conn]struct{}{}, sessions: map[uint32]*session{}}
}

// Serve accepts connections until Close.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return net.ErrClosed
	}
	s.ln = ln
	s.mu.Unlock()
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return nil
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(c)
	}
}

// Close stops accepting, closes every connection and waits for their
// sessions to end.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	if s.ln != nil {
		s.ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	for _, ss := range s.sessions {
		ss.cancelQuery()
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.catalog.close()
	return nil
}

func (s *Server) serveConn(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	ss := &session{srv: s, conn: c}
	if err := ss.run(); err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		s.logger.Debug("postgres session ended", "remote", c.RemoteAddr().String(), "error", err)
	}
}

// register gives a session its BackendKeyData.
func (s *Server) register(ss *session) (pid uint32, secret []byte) {
	secret = make([]byte, 4)
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		var b [4]byte
		rand.Read(b[:])
		rand.Read(secret)
		pid = binary.BigEndian.Uint32(b[:]) &^ (1 << 31)
		if _, taken := s.sessions[pid]; !taken && pid != 0 {
			s.sessions[pid] = ss
			return pid, secret
		}
	}
}

func (s *Server) unregister(pid uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, pid)
}

// cancel stops the query of the session a CancelRequest names, if its
// secret matches.
func (s *Server) cancel(pid uint32, secret []byte) {
	s.mu.Lock()
	ss, ok := s.sessions[pid]
	s.mu.Unlock()
	if ok && string(ss.secret) == string(secret) {
		ss.cancelQuery()
	}
}

// errorResponse is the ErrorResponse for err.
func (s *Server) errorResponse(err error) *pgproto3.ErrorResponse {
	var pe *pgError
	if errors.As(err, &pe) {
		return &pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: pe.code, Message: pe.msg}
	}
	code, msg := s.backend.SQLState(err)
	return &pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: code, Message: msg}
}

// pgError is an error of the protocol layer with its SQLSTATE.
type pgError struct{ code, msg string }

func (e *pgError) Error() string { return e.msg }

func protoErr(code, format string, args ...any) error {
	return &pgError{code: code, msg: fmt.Sprintf(format, args...)}
}

// SQLSTATEs this package uses.
const (
	stateProtocolViolation = "08P01"
	stateFeature           = "0A000"
	stateInvalidAuth       = "28P01"
	stateInvalidParameter  = "22023"
	stateUndefinedPrepared = "26000"
	stateUndefinedCursor   = "34000"
	stateSyntax            = "42601"
)

// isNoop reports statements a read-only server accepts and ignores.
func isNoop(sql string) (tag string, ok bool) {
	w := strings.ToUpper(firstWord(sql))
	switch w {
	case "SET", "RESET":
		return w, true
	case "BEGIN", "START":
		return "BEGIN", true
	case "COMMIT", "END":
		return "COMMIT", true
	case "ROLLBACK", "ABORT":
		return "ROLLBACK", true
	case "DISCARD", "DEALLOCATE":
		return w, true
	}
	return "", false
}

func firstWord(sql string) string {
	s := strings.TrimLeft(sql, " \t\r\n(")
	for i, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_') {
			return s[:i]
		}
	}
	return s
}
