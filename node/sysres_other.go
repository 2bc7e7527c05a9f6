//go:build !linux

package node

func physicalMemory() int64     { return 0 }
func freeDisk(dir string) int64 { return 0 }
