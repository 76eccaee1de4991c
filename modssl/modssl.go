// Package modssl reads mod_ssl's request variables (SSL_PROTOCOL,
// SSL_CLIENT_S_DN, …) from a connection's TLS state, for the directives
// that name them: mod_headers' %{VAR}s, mod_rewrite's %{SSL:VAR} and
// expr= strings.
package modssl

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Var is one of mod_ssl's variables; the zero Var is none.
type Var uint8

const (
	sslHTTPS Var = iota + 1
	sslProtocol
	sslCipher
	sslSessionResumed
	sslTLSSNI
	sslClientVerify
	sslClientSDN
	sslClientSDNCN
	sslClientIDN
	sslClientMSerial
	sslClientVStart
	sslClientVEnd
	sslClientCert
	sslCipherUseKeySize
)

var varNames = map[string]Var{
	"HTTPS": sslHTTPS, "SSL_PROTOCOL": sslProtocol, "SSL_CIPHER": sslCipher,
	"SSL_SESSION_RESUMED": sslSessionResumed, "SSL_TLS_SNI": sslTLSSNI,
	"SSL_CLIENT_VERIFY": sslClientVerify, "SSL_CLIENT_S_DN": sslClientSDN,
	"SSL_CLIENT_S_DN_CN": sslClientSDNCN, "SSL_CLIENT_I_DN": sslClientIDN,
	"SSL_CLIENT_M_SERIAL": sslClientMSerial, "SSL_CLIENT_V_START": sslClientVStart,
	"SSL_CLIENT_V_END": sslClientVEnd, "SSL_CLIENT_CERT": sslClientCert,
	"SSL_CIPHER_USEKEYSIZE": sslCipherUseKeySize,
}

// Lookup returns the variable called name.
func Lookup(name string) (Var, error) {
	if v, ok := varNames[name]; ok {
		return v, nil
	}
	names := make([]string, 0, len(varNames))
	for n := range varNames {
		names = append(names, n)
	}
	slices.Sort(names)
	return 0, fmt.Errorf("SSL variable %q is not supported (sluice reads %s)", name, strings.Join(names, ", "))
}

// Append appends v's value for a request whose connection state is cs
// (nil: not TLS); nothing where the variable has no value, and HTTPS is
// "on" or "off".
func Append(dst []byte, v Var, cs *tls.ConnectionState) []byte {
	if v == sslHTTPS {
		if cs == nil {
			return append(dst, "off"...)
		}
		return append(dst, "on"...)
	}
	if cs == nil {
		return dst
	}
	return value(dst, v, cs)
}

func value(dst []byte, v Var, cs *tls.ConnectionState) []byte {
	var client *x509.Certificate
	if len(cs.PeerCertificates) > 0 {
		client = cs.PeerCertificates[0]
	}
	switch v {
	case sslProtocol:
		return append(dst, strings.Replace(tls.VersionName(cs.Version), "TLS 1.", "TLSv1.", 1)...)
	case sslCipher:
		return append(dst, tls.CipherSuiteName(cs.CipherSuite)...)
	case sslCipherUseKeySize:
		return strconv.AppendInt(dst, int64(keySize(tls.CipherSuiteName(cs.CipherSuite))), 10)
	case sslSessionResumed:
		if cs.DidResume {
			return append(dst, "Resumed"...)
		}
		return append(dst, "Initial"...)
	case sslTLSSNI:
		return append(dst, cs.ServerName...)
	case sslClientVerify:
		switch {
		case client == nil:
			return append(dst, "NONE"...)
		case len(cs.VerifiedChains) == 0:
			return append(dst, "GENEROUS"...) // optional_no_ca: presented, not verified
		}
		return append(dst, "SUCCESS"...)
	}
	if client == nil {
		return dst
	}
	switch v {
	case sslClientSDN:
		return appendDN(dst, client.RawSubject)
	case sslClientSDNCN:
		return appendFirstCN(dst, client.RawSubject)
	case sslClientIDN:
		return appendDN(dst, client.RawIssuer)
	case sslClientMSerial:
		return appendSerial(dst, client.SerialNumber)
	case sslClientVStart:
		return appendCertTime(dst, client.NotBefore)
	case sslClientVEnd:
		return appendCertTime(dst, client.NotAfter)
	case sslClientCert:
		return append(dst, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: client.Raw})...)
	}
	return dst
}

// keySize is the bits of a cipher suite's symmetric key, from its name.
func keySize(suite string) int {
	switch {
	case strings.Contains(suite, "AES_128"):
		return 128
	case strings.Contains(suite, "AES_256"), strings.Contains(suite, "CHACHA20"):
		return 256
	case strings.Contains(suite, "3DES"):
		return 168
	}
	return 0
}

// appendSerial writes a serial number as OpenSSL's i2a_ASN1_INTEGER, as
// SSL_CLIENT_M_SERIAL reads: each byte in upper-case hex, a leading zero
// kept, and '-' before a negative one.
func appendSerial(dst []byte, n *big.Int) []byte {
	start := len(dst)
	if n.Sign() < 0 {
		start++
	}
	dst = n.Append(dst, 16)
	if (len(dst)-start)%2 == 1 {
		dst = slices.Insert(dst, start, '0')
	}
	for i := start; i < len(dst); i++ {
		if c := dst[i]; 'a' <= c && c <= 'f' {
			dst[i] = c - 'a' + 'A'
		}
	}
	return dst
}

// appendCertTime writes t as OpenSSL prints certificate times ("Nov  7
// 09:05:01 2026 GMT"), as mod_ssl's SSL_CLIENT_V_START and _END read.
func appendCertTime(dst []byte, t time.Time) []byte {
	t = t.UTC()
	dst = append(dst, t.Format("Jan")...)
	dst = append(dst, ' ')
	if t.Day() < 10 {
		dst = append(dst, ' ')
	}
	dst = strconv.AppendInt(dst, int64(t.Day()), 10)
	return append(dst, t.Format(" 15:04:05 2006 GMT")...)
}
