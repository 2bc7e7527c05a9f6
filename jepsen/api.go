//go:build linux

package jepsen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// api talks to the nodes' real API listeners over plain HTTP; the harness
// uses no package of the main module.
type api struct {
	http *http.Client
}

func newAPI() *api {
	return &api{http: &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
	}}}
}

// outcome classifies one request: did it take effect?
type outcome int

const (
	outOK      outcome = iota // it took effect
	outFail                   // it certainly did not take effect
	outUnknown                // it may have
)

func (o outcome) String() string {
	return [...]string{"ok", "fail", "unknown"}[o]
}

// apiError is a non-2xx answer.
type apiError struct {
	Status  int
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *apiError) Error() string {
	return fmt.Sprintf("HTTP %d %s: %s", e.Status, e.Code, e.Message)
}

// classify says whether a failed request certainly did not take effect:
// the connection was never made, or the server refused the request before
// handing it to Raft (invalid, not found, back-pressure). Anything else,
// timeouts and 5xx included, leaves the outcome unknown.
func classify(err error) outcome {
	if err == nil {
		return outOK
	}
	var ae *apiError
	if errors.As(err, &ae) {
		switch ae.Code {
		case "invalid_argument", "not_found", "resource_exhausted", "already_exists":
			return outFail
		}
		return outUnknown
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return outFail
	}
	return outUnknown
}

func (a *api) do(ctx context.Context, method, rawURL, contentType string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, rawURL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		ae := &apiError{Status: resp.StatusCode}
		if json.Unmarshal(b, ae) != nil || ae.Code == "" {
			ae.Message = strings.TrimSpace(string(b))
		}
		return nil, ae
	}
	return b, nil
}

// writeResult is the write answer (protojson of WriteResponse: 64-bit
// integers as strings, zero values left out).
type writeResult struct {
	RowsWritten int64  `json:"rowsWritten,string"`
	RaftIndex   uint64 `json:"raftIndex,string"`
	Duplicate   bool   `json:"duplicate"`
}

// write posts NDJSON rows with a request id.
func (a *api) write(ctx context.Context, addr, table, requestID string, ndjson []byte) (writeResult, error) {
	return a.writeRows(ctx, addr, table, requestID, "", ndjson)
}

// writeRows posts NDJSON rows with a request id and an upsert key ("" for
// plain appends).
func (a *api) writeRows(ctx context.Context, addr, table, requestID, upsertKey string, ndjson []byte) (writeResult, error) {
	var res writeResult
	u := fmt.Sprintf("http://%s/v1/tables/%s/rows?request_id=%s", addr, table, url.QueryEscape(requestID))
	if upsertKey != "" {
		u += "&upsert_key=" + url.QueryEscape(upsertKey)
	}
	b, err := a.do(ctx, http.MethodPost, u, "application/x-ndjson", ndjson)
	if err != nil {
		return res, err
	}
	if err := json.Unmarshal(b, &res); err != nil {
		return res, fmt.Errorf("decode write answer %q: %w", b, err)
	}
	return res, nil
}

// readIDs runs SELECT id FROM table with the given consistency and
// execution mode ("" for the server's choice) and returns the ids in the
// order the server sent them.
func (a *api) readIDs(ctx context.Context, addr, table, consistency, execution string) ([]string, error) {
	form := url.Values{"sql": {"SELECT id FROM " + table}, "consistency": {consistency}}
	if execution != "" {
		form.Set("execution", execution)
	}
	b, err := a.do(ctx, http.MethodPost, "http://"+addr+"/v1/query?format=json", "application/x-www-form-urlencoded", []byte(form.Encode()))
	if err != nil {
		return nil, err
	}
	// An error after the result started is appended as "\nerror: …".
	if i := bytes.LastIndex(b, []byte("\nerror:")); i >= 0 {
		return nil, fmt.Errorf("query failed mid-stream: %s", strings.TrimSpace(string(b[i:])))
	}
	var rows []struct {
		ID *string `json:"id"`
	}
	if err := json.Unmarshal(b, &rows); err != nil {
		return nil, fmt.Errorf("decode query answer (%d bytes): %w", len(b), err)
	}
	ids := make([]string, 0, len(rows))
	for _, r := range rows {
		if r.ID == nil {
			ids = append(ids, "<null>")
			continue
		}
		ids = append(ids, *r.ID)
	}
	return ids, nil
}

// jsonUint reads a protojson 64-bit integer, which is a JSON string.
type jsonUint uint64

func (u *jsonUint) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		*u = 0
		return nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	*u = jsonUint(v)
	return err
}

type member struct {
	NodeID   string `json:"nodeId"`
	RaftAddr string `json:"raftAddr"`
	HTTPAddr string `json:"httpAddr"`
	Voter    bool   `json:"voter"`
	Leader   bool   `json:"leader"`
}

type status struct {
	NodeID       string   `json:"nodeId"`
	RaftState    string   `json:"raftState"`
	LeaderID     string   `json:"leaderId"`
	Term         jsonUint `json:"term"`
	AppliedIndex jsonUint `json:"appliedIndex"`
	CommitIndex  jsonUint `json:"commitIndex"`
	LastLogIndex jsonUint `json:"lastLogIndex"`
	Members      []member `json:"members"`
	Tables       []struct {
		Name    string   `json:"name"`
		HotRows jsonUint `json:"hotRows"`
		Files   jsonUint `json:"files"`
	} `json:"tables"`
	ObjectStoreOK bool `json:"objectStoreOk"`
}

func (a *api) rpc(ctx context.Context, addr, method string, in any, out any) error {
	body, _ := json.Marshal(in)
	b, err := a.do(ctx, http.MethodPost, "http://"+addr+"/miniodb.v1."+method, "application/json", body)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

func (a *api) status(ctx context.Context, addr string) (*status, error) {
	var st status
	if err := a.rpc(ctx, addr, "ClusterService/Status", struct{}{}, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// delete deletes rows by id.
func (a *api) delete(ctx context.Context, addr, table string, ids []string) error {
	return a.rpc(ctx, addr, "WriteService/Delete", map[string]any{"table": table, "ids": ids}, nil)
}

func (a *api) flush(ctx context.Context, addr string) error {
	return a.rpc(ctx, addr, "ClusterService/Flush", struct{}{}, nil)
}

func (a *api) remove(ctx context.Context, addr, nodeID string) error {
	return a.rpc(ctx, addr, "ClusterService/Remove", map[string]string{"nodeId": nodeID}, nil)
}

// createTable creates the workload's table: ids, the writing client and
// its sequence number, partitioned by hour so that a flush writes several
// files.
func (a *api) createTable(ctx context.Context, addr, table string) error {
	req := map[string]any{
		"name": table,
		"columns": []map[string]string{
			{"name": "id", "type": "COLUMN_TYPE_VARCHAR"},
			{"name": "client", "type": "COLUMN_TYPE_BIGINT"},
			{"name": "seq", "type": "COLUMN_TYPE_BIGINT"},
			{"name": "ts", "type": "COLUMN_TYPE_TIMESTAMP"},
		},
		"partitioning": "PARTITIONING_HOUR",
		"ifNotExists":  true,
	}
	return a.rpc(ctx, addr, "TableService/CreateTable", req, nil)
}

// healthy reports whether the node's API answers /healthz.
func (a *api) healthy(ctx context.Context, addr string) bool {
	_, err := a.do(ctx, http.MethodGet, "http://"+addr+"/healthz", "", nil)
	return err == nil
}
