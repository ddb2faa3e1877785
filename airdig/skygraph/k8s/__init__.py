"""The Kubernetes scanner: a reader over the official client (:mod:`.reader`) and pure transforms
from the API's list responses to nodes and edges (:mod:`.transform`)."""
