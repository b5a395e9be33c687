module github.com/previewgate/previewgate

go 1.26.0
