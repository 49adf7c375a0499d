module github.com/fetchkit/fetch

go 1.26.8
