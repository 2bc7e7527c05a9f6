package node

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"connectrpc.com/connect"
	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
	"github.com/miniodb/miniodb/proto/miniodb/v1/miniodbv1connect"
)

// compressMinBytes is the smallest answer the API compresses.
const compressMinBytes = 4 << 10

// newHTTPServers returns the API server and the server of the same API to
// other nodes on the Raft address, whose requests carry the peer marker in
// their context.
func (n *Node) newHTTPServers() (public, peer *http.Server) {
	a := &api{n: n}
	opts := []connect.HandlerOption{
		connect.WithCodec(jsonCodec{name: "json"}),
		connect.WithCodec(jsonCodec{name: "json; charset=utf-8"}),
		connect.WithReadMaxBytes(int(n.cfg.MaxRequestBytes)),
		// The error interceptor is outermost: it maps, counts and logs
		// the auth interceptor's refusals too.
		connect.WithInterceptors(errorInterceptor{n: n}, authInterceptor{n: n}),
		// Compressing a small answer costs more than it saves: gzip of a
		// 40-byte write answer was 13% of the CPU of single-row writes.
		connect.WithCompressMinBytes(compressMinBytes),
	}
	mux := http.NewServeMux()
	mux.Handle(miniodbv1connect.NewWriteServiceHandler(a, opts...))
	mux.Handle(miniodbv1connect.NewQueryServiceHandler(a, opts...))
	mux.Handle(miniodbv1connect.NewTableServiceHandler(a, opts...))
	mux.Handle(miniodbv1connect.NewClusterServiceHandler(a, opts...))
	mux.Handle(miniodbv1connect.NewAuthServiceHandler(a, opts...))
	mux.HandleFunc("POST /v1/tables/{table}/rows", n.handleNDJSON)
	mux.HandleFunc("GET /v1/query", n.handleHTTPQuery)
	mux.HandleFunc("POST /v1/query", n.handleHTTPQuery)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", n.handleReady)
	mux.Handle("GET /metrics", promhttp.HandlerFor(n.registry, promhttp.HandlerOpts{}))
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	if n.cfg.TLSCertFile != "" {
		protocols.SetHTTP2(true)
	} else {
		// h2c with prior knowledge, for gRPC clients without TLS.
		protocols.SetUnencryptedHTTP2(true)
	}
	// The server's own complaints (TLS handshakes that failed, bad
	// requests) go to the node's log.
	errLog := slog.NewLogLogger(n.logger.With("component", "http").Handler(), slog.LevelInfo)
	handler := n.withAuth(mux)
	public = &http.Server{
		ErrorLog:          errLog,
		Handler:           handler,
		Protocols:         &protocols,
		ReadHeaderTimeout: 10 * time.Second,
	}
	// The Raft address serves the same API plus PeerService and
	// FragmentService.
	peerMux := http.NewServeMux()
	peerMux.Handle("/", mux)
	peerMux.Handle(miniodbv1connect.NewPeerServiceHandler(a, opts...))
	peerMux.Handle(miniodbv1connect.NewFragmentServiceHandler(a, opts...))
	peerHandler := n.withAuth(peerMux)
	peer = &http.Server{
		ErrorLog: errLog,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			peerHandler.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), peerKey{}, true)))
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	return public, peer
}

// handleNDJSON takes a body of newline-delimited JSON rows:
//
//	curl --data-binary @rows.ndjson localhost:7070/v1/tables/events/rows
//	curl -T rows.ndjson -H 'Transfer-Encoding: chunked' localhost:7070/v1/tables/events/rows
//
// The request id may be given as ?request_id= or the Idempotency-Key header;
// ?upsert_key=id makes each row replace the earlier rows with its id. A
// body of any length is accepted (writeNDJSON).
func (n *Node) handleNDJSON(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	// The Write RPC's access rule, checked before the body is read.
	if err := n.authorize(r.Context(), miniodbv1connect.WriteServiceWriteProcedure, &v1.WriteRequest{Table: r.PathValue("table")}); err != nil {
		n.observeWrite(start, err)
		writeHTTPError(w, apiError(n.logger, "write", err))
		return
	}
	id := r.URL.Query().Get("request_id")
	if id == "" {
		id = r.Header.Get("Idempotency-Key")
	}
	req := &v1.WriteRequest{
		Table: r.PathValue("table"), RequestId: id, Redirect: r.URL.Query().Get("redirect") == "true",
		UpsertKey: r.URL.Query().Get("upsert_key"),
	}
	res, err := n.writeNDJSON(r.Context(), req, r.Body)
	n.observeWrite(start, err)
	if err != nil {
		ce := apiError(n.logger, "write", err)
		if leader := ce.Meta().Get(leaderHeader); leader != "" {
			w.Header().Set(leaderHeader, leader)
		}
		writeHTTPError(w, ce)
		return
	}
	// The same JSON as the Connect answer (protojson: camelCase names,
	// 64-bit integers as strings), so clients parse one shape.
	b, err := protojson.Marshal(res)
	if err != nil {
		writeHTTPError(w, apiError(n.logger, "write", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(b, '\n'))
}

// writeNDJSON writes an NDJSON body. A body of at most MaxRequestBytes is
// one write, atomic as any. A longer one (a chunked upload of a log file,
// say) is written in pieces of at most MaxRequestBytes cut at line ends,
// one after the other, so memory stays bounded whatever the length: each
// piece is atomic and durable before the next is read, and piece k has
// request id "<request_id>#k", so a retry of the whole body with the same
// request_id skips the pieces already applied. An error names how many
// rows the pieces before it wrote.
func (n *Node) writeNDJSON(ctx context.Context, req *v1.WriteRequest, body io.Reader) (*v1.WriteResponse, error) {
	limit := int(n.cfg.MaxRequestBytes)
	buf := make([]byte, 0, min(limit, 1<<20))
	total := &v1.WriteResponse{Duplicate: true}
	for piece := 0; ; piece++ {
		// Fill the buffer up to the limit (growing it only as needed).
		eof := false
		for len(buf) < limit {
			if len(buf) == cap(buf) {
				buf = slices.Grow(buf, min(cap(buf), limit-len(buf)))
			}
			k, err := body.Read(buf[len(buf):min(cap(buf), limit)])
			buf = buf[:len(buf)+k]
			if err == io.EOF {
				eof = true
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%w: reading the body: %w", ErrInvalid, err)
			}
		}
		chunk, rest := buf, []byte(nil)
		if !eof {
			cut := bytes.LastIndexByte(buf, '\n')
			if cut < 0 {
				return nil, fmt.Errorf("%w: a line of the body is longer than %d bytes (--max-request-bytes)", ErrInvalid, limit)
			}
			chunk, rest = buf[:cut+1], buf[cut+1:]
		}
		m := proto.Clone(req).(*v1.WriteRequest)
		m.RowsNdjson = chunk
		if piece > 0 || !eof {
			if req.RequestId != "" {
				m.RequestId = fmt.Sprintf("%s#%d", req.RequestId, piece)
			}
		}
		if len(bytes.TrimSpace(chunk)) > 0 || piece == 0 {
			res, err := n.WriteRequest(ctx, m)
			if err != nil {
				if piece == 0 {
					return nil, err
				}
				return nil, fmt.Errorf("after %d rows written in %d pieces of the body (a retry with the same request_id skips them), piece %d: %w",
					total.RowsWritten, piece, piece+1, err)
			}
			total.RowsWritten += res.RowsWritten
			total.RaftIndex = max(total.RaftIndex, res.RaftIndex)
			total.Duplicate = total.Duplicate && res.Duplicate
		}
		if eof {
			return total, nil
		}
		buf = append(buf[:0], rest...)
	}
}

// handleHTTPQuery answers ?sql=…&format=json|csv|ndjson for curl users.
func (n *Node) handleHTTPQuery(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	// The Query RPC's access rule; the query path checks the tables.
	if err := n.authorize(r.Context(), miniodbv1connect.QueryServiceQueryProcedure, nil); err != nil {
		n.observeQuery(start, err)
		writeHTTPError(w, apiError(n.logger, "query", err))
		return
	}
	if err := r.ParseForm(); err != nil {
		writeHTTPError(w, connect.NewError(connect.CodeInvalidArgument, err))
		return
	}
	format := r.Form.Get("format")
	if format == "" {
		format = "json"
	}
	ctx := r.Context()
	if t := r.Form.Get("timeout_ms"); t != "" {
		ms, err := strconv.ParseInt(t, 10, 64)
		if err != nil || ms <= 0 {
			writeHTTPError(w, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("timeout_ms %q: want a positive number of milliseconds", t)))
			return
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(ms)*time.Millisecond)
		defer cancel()
	}
	var cols []*v1.ResultColumn
	var cw *csv.Writer
	first := true
	started := false
	staleness, _ := strconv.ParseInt(r.Form.Get("max_staleness_ms"), 10, 64)
	req := &v1.QueryRequest{Sql: r.Form.Get("sql"), Consistency: r.Form.Get("consistency"), MaxStalenessMs: staleness,
		Execution: r.Form.Get("execution"), Pruning: r.Form.Get("pruning")}
	err := n.Query(ctx, req, func(c []*v1.ResultColumn) error {
		cols = c
		switch format {
		case "csv":
			w.Header().Set("Content-Type", "text/csv")
			cw = csv.NewWriter(w)
			names := make([]string, len(c))
			for i, col := range c {
				names[i] = col.Name
			}
			started = true
			return cw.Write(names)
		case "ndjson":
			w.Header().Set("Content-Type", "application/x-ndjson")
		case "json":
			w.Header().Set("Content-Type", "application/json")
			started = true
			_, err := io.WriteString(w, "[")
			return err
		default:
			return fmt.Errorf("%w: format %q: want json, ndjson or csv", ErrInvalid, format)
		}
		started = true
		return nil
	}, func(row *structpb.ListValue) error {
		switch format {
		case "csv":
			rec := make([]string, len(row.Values))
			for i, v := range row.Values {
				rec[i] = csvCell(v)
			}
			if len(rec) == 1 && rec[0] == "" {
				// A lone empty field would be a blank line, which CSV
				// readers skip: the row would vanish.
				cw.Flush()
				_, err := io.WriteString(w, "\"\"\n")
				return err
			}
			return cw.Write(rec)
		default:
			obj := &structpb.Struct{Fields: make(map[string]*structpb.Value, len(cols))}
			for i, c := range cols {
				obj.Fields[c.Name] = row.Values[i]
			}
			b, err := stableJSON(structpb.NewStructValue(obj))
			if err != nil {
				return err
			}
			sep := "\n"
			if format == "json" {
				sep = ","
				if first {
					sep = ""
				}
				b = append([]byte(sep), b...)
				sep = ""
			}
			first = false
			_, err = w.Write(append(b, sep...))
			return err
		}
	})
	n.observeQuery(start, err)
	if err != nil {
		if !started {
			writeHTTPError(w, apiError(n.logger, "query", err))
			return
		}
		// Headers are gone: end the body with the error so it cannot be
		// mistaken for a complete result.
		fmt.Fprintf(w, "\nerror: %v\n", err)
		return
	}
	switch format {
	case "csv":
		cw.Flush()
	case "json":
		io.WriteString(w, "]\n")
	}
}

func csvCell(v *structpb.Value) string {
	switch k := v.Kind.(type) {
	case *structpb.Value_NullValue:
		return ""
	case *structpb.Value_StringValue:
		return k.StringValue
	}
	b, _ := stableJSON(v)
	return string(b)
}

func writeHTTPError(w http.ResponseWriter, ce *connect.Error) {
	w.Header().Set("Content-Type", "application/json")
	status := httpStatus(ce.Code())
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"code": ce.Code().String(), "message": ce.Message()})
}

// httpStatus maps a Connect code to the HTTP status the Connect protocol
// itself uses for it, so the plain HTTP endpoints and Connect JSON answer
// the same condition with the same status.
func httpStatus(c connect.Code) int {
	switch c {
	case connect.CodeCanceled:
		return 499
	case connect.CodeInvalidArgument, connect.CodeFailedPrecondition, connect.CodeOutOfRange:
		return http.StatusBadRequest
	case connect.CodeDeadlineExceeded:
		return http.StatusGatewayTimeout
	case connect.CodeNotFound:
		return http.StatusNotFound
	case connect.CodeAlreadyExists, connect.CodeAborted:
		return http.StatusConflict
	case connect.CodePermissionDenied:
		return http.StatusForbidden
	case connect.CodeResourceExhausted:
		return http.StatusTooManyRequests
	case connect.CodeUnimplemented:
		return http.StatusNotImplemented
	case connect.CodeUnavailable:
		return http.StatusServiceUnavailable
	case connect.CodeUnauthenticated:
		return http.StatusUnauthorized
	}
	return http.StatusInternalServerError
}

// handleReady answers 200 when the node has a leader and its object store
// answers, 503 with the reason otherwise.
func (n *Node) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	var problems []string
	if addr, _ := n.raft.LeaderWithID(); addr == "" {
		problems = append(problems, "no raft leader")
	}
	if n.raft.State() == raft.Shutdown {
		problems = append(problems, "raft is shut down")
	}
	if n.authOn && !n.fsm.Auth() {
		problems = append(problems, "authentication is on and the cluster has no tokens yet (the node that created it applies its bootstrap token once it leads)")
	}
	if err := n.store.Ping(ctx); err != nil {
		problems = append(problems, "object store: "+err.Error())
	}
	if h, ok := n.logStore.(interface{ Err() error }); ok {
		if err := h.Err(); err != nil {
			problems = append(problems, "raft log: "+err.Error()+"; restart the node (it recovers from the last fsync'd entry)")
		}
	}
	if len(problems) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		for _, p := range problems {
			fmt.Fprintln(w, p)
		}
		return
	}
	fmt.Fprintln(w, "ready")
}

// stableJSON renders a value as compact JSON with sorted object keys.
// protojson varies its whitespace on purpose from build to build; rows
// and CSV cells should be the same bytes every time.
func stableJSON(v *structpb.Value) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // "<" stays "<": this is data, not HTML
	if err := enc.Encode(v.AsInterface()); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
