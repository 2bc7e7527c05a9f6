//go:build linux

package jepsen

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// proc is one run of a child process whose output is appended to a log
// file. It is killed if the test process dies (Pdeathsig).
type proc struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has exited
	state  *os.ProcessState
	err    error // from Wait
}

func startProc(bin string, args, env []string, logPath, banner string) (*proc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(f, "\n=== jepsen %s: %s %s\n", time.Now().Format(time.RFC3339Nano), banner, strings.Join(append([]string{filepath.Base(bin)}, args...), " "))
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("jepsen: start %s: %w", bin, err)
	}
	p := &proc{cmd: cmd, exited: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		p.state, p.err = cmd.ProcessState, err
		fmt.Fprintf(f, "=== jepsen %s: exited: %v\n", time.Now().Format(time.RFC3339Nano), describeExit(cmd.ProcessState, err))
		f.Close()
		close(p.exited)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL (after SIGCONT is irrelevant: SIGKILL works on a
// stopped process) and waits for the exit.
func (p *proc) kill() {
	if p.running() {
		p.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-p.exited
}

func (p *proc) pause() error {
	if !p.running() {
		return fmt.Errorf("not running")
	}
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		return err
	}
	return waitStopped(p.pid(), 5*time.Second)
}

func (p *proc) resume() {
	if p.running() {
		p.cmd.Process.Signal(syscall.SIGCONT)
	}
}

// killedBySignal reports whether the process ended by SIGKILL.
func (p *proc) killedBySignal() bool {
	if p.state == nil {
		return false
	}
	ws, ok := p.state.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

func describeExit(st *os.ProcessState, err error) string {
	if st == nil {
		return fmt.Sprint(err)
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "signal " + ws.Signal().String()
	}
	return fmt.Sprintf("exit status %d", st.ExitCode())
}

// waitStopped waits until every thread of pid is stopped (state T), since
// SIGSTOP takes effect asynchronously.
func waitStopped(pid int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if allStopped(pid) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("process %d not stopped after %v", pid, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func allStopped(pid int) bool {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if err != nil || len(tasks) == 0 {
		return false
	}
	for _, p := range tasks {
		b, err := os.ReadFile(p)
		if err != nil {
			return false
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 || i+2 >= len(s) {
			return false
		}
		if st := s[i+2]; st != 'T' && st != 't' {
			return false
		}
	}
	return true
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// environ is the environment minus the variables the harness sets itself,
// so a developer's settings cannot leak into the processes.
func environ(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		switch {
		case strings.HasPrefix(kv, "MINIO_"), strings.HasPrefix(kv, "MINIODB_"),
			strings.HasPrefix(kv, "AWS_"):
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}
