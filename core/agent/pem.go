package agent

import "encoding/pem"

type pemBlock = pem.Block

func decodePEM(b []byte) (*pem.Block, []byte) {
	for {
		blk, rest := pem.Decode(b)
		if blk == nil || blk.Type == "CERTIFICATE" {
			return blk, rest
		}
		b = rest
	}
}
