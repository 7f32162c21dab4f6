package host

import "encoding/json"

var jsonUnmarshal = json.Unmarshal
