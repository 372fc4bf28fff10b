package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"unsafe"
)

// cpuMask is the kernel's affinity bitmap for maxCPUs CPUs.
type cpuMask [maxCPUs / 64]uint64

func maskOf(s cpuSet) cpuMask {
	var m cpuMask
	for _, c := range s {
		m[c/64] |= 1 << (c % 64)
	}
	return m
}

func setAffinity(tid int, s cpuSet) error {
	m := maskOf(s)
	_, _, e := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, uintptr(tid), unsafe.Sizeof(m), uintptr(unsafe.Pointer(&m)))
	if e != 0 {
		return e
	}
	return nil
}

// allowedCPUs is this process's affinity (what taskset -p would print).
func allowedCPUs() (cpuSet, error) {
	var m cpuMask
	_, _, e := syscall.RawSyscall(syscall.SYS_SCHED_GETAFFINITY, 0, unsafe.Sizeof(m), uintptr(unsafe.Pointer(&m)))
	if e != 0 {
		return nil, fmt.Errorf("sched_getaffinity: %w", e)
	}
	var s cpuSet
	for c := range maxCPUs {
		if m[c/64]&(1<<(c%64)) != 0 {
			s = append(s, c)
		}
	}
	return s, nil
}

// execPinned replaces this process with argv, bound to cpus: the pinned
// thread's mask survives exec and every thread of the new program inherits
// it, as with taskset -c (which may not be installed). The pid stays the
// same, so the caller measures the server itself.
func execPinned(cpus cpuSet, argv []string) error {
	if len(argv) == 0 {
		return fmt.Errorf("--exec-pinned: no command")
	}
	runtime.LockOSThread()
	if err := setAffinity(0, cpus); err != nil {
		return fmt.Errorf("sched_setaffinity %s: %w", cpus, err)
	}
	return syscall.Exec(argv[0], argv, os.Environ())
}

// pinSelf binds every thread of this process to cpus; threads started
// later inherit the mask from the thread that starts them.
func pinSelf(cpus cpuSet) error {
	// Twice: a thread started while the first pass ran may have copied the old mask.
	for range 2 {
		ents, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		for _, e := range ents {
			tid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			if err := setAffinity(tid, cpus); err != nil && err != syscall.ESRCH {
				return fmt.Errorf("sched_setaffinity %s: %w", cpus, err)
			}
		}
	}
	return nil
}
