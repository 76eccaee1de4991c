module github.com/sluiceproxy/sluice

go 1.26
