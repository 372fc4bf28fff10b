// Command slowbody measures what slow, unauthenticated requests cost a
// running receiver (issue 13, finding 2): it opens -n connections to -addr,
// each announcing a -announce byte body and sending only -send bytes, holds
// them for -hold, and prints the server's resident memory (VmRSS of -pid)
// before and while they are held.
//
//	go run ./scripts/slowbody -addr 127.0.0.1:8080 -pid $(pgrep -n local) -n 1000
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "receiver address")
	pid := flag.Int("pid", 0, "receiver process id (its VmRSS is read from /proc)")
	n := flag.Int("n", 1000, "connections")
	announce := flag.Int("announce", 1<<20, "Content-Length each connection announces")
	send := flag.Int("send", 128, "body bytes each connection sends")
	hold := flag.Duration("hold", 5*time.Second, "how long the connections are held before measuring")
	flag.Parse()
	if *pid == 0 {
		fmt.Fprintln(os.Stderr, "slowbody: -pid is required")
		os.Exit(2)
	}
	// A stress probe: it only ever targets a receiver on this machine.
	if host, _, err := net.SplitHostPort(*addr); err != nil || !isLoopback(host) {
		fmt.Fprintf(os.Stderr, "slowbody: -addr %s: only a loopback address (127.0.0.0/8, ::1, localhost) may be probed\n", *addr)
		os.Exit(2)
	}
	before, err := rssKiB(*pid)
	if err != nil {
		fmt.Fprintln(os.Stderr, "slowbody:", err)
		os.Exit(1)
	}
	head := fmt.Sprintf("POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"+
		"webhook-id: msg_slow\r\nwebhook-timestamp: %d\r\nwebhook-signature: v1,AAAA\r\n\r\n", *addr, *announce, time.Now().Unix())
	part := head + strings.Repeat("x", *send)
	conns := make([]net.Conn, 0, *n)
	for i := 0; i < *n; i++ {
		c, err := net.Dial("tcp", *addr)
		if err != nil {
			fmt.Fprintf(os.Stderr, "slowbody: connection %d: %v\n", i+1, err)
			break
		}
		if _, err := c.Write([]byte(part)); err != nil {
			fmt.Fprintf(os.Stderr, "slowbody: connection %d: %v\n", i+1, err)
		}
		conns = append(conns, c)
	}
	time.Sleep(*hold)
	during, err := rssKiB(*pid)
	if err != nil {
		fmt.Fprintln(os.Stderr, "slowbody:", err)
		os.Exit(1)
	}
	peak, _ := hwmKiB(*pid)
	for _, c := range conns {
		_ = c.Close()
	}
	fmt.Printf("%d connections announcing %d bytes, sending %d: server RSS %d MiB before, %d MiB while held (+%d MiB), peak %d MiB\n",
		len(conns), *announce, *send, before/1024, during/1024, (during-before)/1024, peak/1024)
}

func rssKiB(pid int) (int64, error) { return statusKiB(pid, "VmRSS:") }
func hwmKiB(pid int) (int64, error) { return statusKiB(pid, "VmHWM:") }

func statusKiB(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			var kib int64
			_, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kib)
			return kib, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// isLoopback reports whether host is a loopback address or localhost.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
