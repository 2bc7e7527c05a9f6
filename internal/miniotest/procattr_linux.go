package miniotest

import "syscall"

// sysProcAttr kills the server if the test process dies without cleanup.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
