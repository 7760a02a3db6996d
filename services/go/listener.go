package main

// The listening socket: a listen backlog of 2048, as gunicorn's and uvicorn's (Go would take
// the kernel's somaxconn), and a Close that drains the backlog first.
//
// On SIGTERM http.Server.Shutdown closes the listener, and the kernel would then reset every
// connection still waiting in its backlog: requests fully sent, never answered. The contract
// says a stopping service answers those too. So Close first accepts everything the backlog
// holds, and Accept hands those connections to the server before it reports the listener
// closed; Shutdown waits for them like for any other.

import (
	"errors"
	"net"
	"os"
	"sync"
	"syscall"
)

const listenBacklog = 2048

type drainingListener struct {
	*net.TCPListener
	mu      sync.Mutex
	drained []net.Conn
}

func listen(host, port string) (*drainingListener, error) {
	addr, err := net.ResolveTCPAddr("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return nil, err
	}
	family, sockaddr := syscall.AF_INET, syscall.Sockaddr(nil)
	if ip4 := addr.IP.To4(); ip4 != nil || addr.IP == nil {
		sa := &syscall.SockaddrInet4{Port: addr.Port}
		copy(sa.Addr[:], ip4)
		sockaddr = sa
	} else {
		family = syscall.AF_INET6
		sa := &syscall.SockaddrInet6{Port: addr.Port}
		copy(sa.Addr[:], addr.IP.To16())
		sockaddr = sa
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	file := os.NewFile(uintptr(fd), "listener")
	defer file.Close() // net.FileListener holds a duplicate
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		return nil, os.NewSyscallError("setsockopt", err)
	}
	if err := syscall.Bind(fd, sockaddr); err != nil {
		return nil, os.NewSyscallError("bind "+addr.String(), err)
	}
	if err := syscall.Listen(fd, listenBacklog); err != nil {
		return nil, os.NewSyscallError("listen", err)
	}
	ln, err := net.FileListener(file)
	if err != nil {
		return nil, err
	}
	return &drainingListener{TCPListener: ln.(*net.TCPListener)}, nil
}

func (l *drainingListener) Accept() (net.Conn, error) {
	conn, err := l.TCPListener.Accept()
	if err == nil {
		return conn, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.drained) > 0 {
		conn, l.drained = l.drained[0], l.drained[1:]
		return conn, nil
	}
	return nil, err
}

// Close takes every connection waiting in the backlog (the socket is non-blocking: accept4
// says EAGAIN once it is empty), then closes the socket.
func (l *drainingListener) Close() error {
	raw, err := l.TCPListener.SyscallConn()
	if err == nil {
		l.mu.Lock()
		err = raw.Control(func(fd uintptr) {
			for {
				nfd, _, err := syscall.Accept4(int(fd), syscall.SOCK_CLOEXEC)
				if err != nil {
					if errors.Is(err, syscall.EINTR) || errors.Is(err, syscall.ECONNABORTED) {
						continue
					}
					return
				}
				file := os.NewFile(uintptr(nfd), "drained")
				conn, err := net.FileConn(file)
				file.Close()
				if err == nil {
					l.drained = append(l.drained, conn)
				}
			}
		})
		l.mu.Unlock()
	}
	if closeErr := l.TCPListener.Close(); closeErr != nil {
		return closeErr
	}
	return err
}
