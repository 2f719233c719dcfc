// JSONValue, JSONObject, JSONParser and JSONWriter live in the tiny ARCPJSON target so the
// code generator can read the schema with the same parser; users of ARCPGenerated get them
// through this re-export.
@_exported import ARCPJSON
