//go:build !linux

package main

import "errors"

var errNoAffinity = errors.New("CPU affinity is implemented for Linux only")

func allowedCPUs() (cpuSet, error)      { return nil, errNoAffinity }
func execPinned(cpuSet, []string) error { return errNoAffinity }
func pinSelf(cpuSet) error              { return errNoAffinity }
