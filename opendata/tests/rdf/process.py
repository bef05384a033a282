"""The open-data tests' RDF side (opendata/tests/processors.rs runs it).

  process.py expand FILE        prints FILE expanded by PyLD (JSON-LD 1.1)
  process.py same-graph A B     exits 0 when the JSON-LD A and the Turtle B
                                are isomorphic graphs (rdflib), else 1

No document is ever fetched: the loader refuses every remote context, so a
document that needs one fails here as it would fail a harvester offline.
"""
import json
import sys


def refuse(url, options=None):
    raise RuntimeError(f"remote document requested: {url}")


def expand(path):
    from pyld import jsonld

    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    expanded = jsonld.expand(doc, {"documentLoader": refuse})
    json.dump(expanded, sys.stdout, ensure_ascii=False)


def same_graph(json_ld, turtle):
    from rdflib import Graph
    from rdflib.compare import isomorphic, to_isomorphic, graph_diff

    a = Graph().parse(json_ld, format="json-ld")
    b = Graph().parse(turtle, format="turtle")
    if len(a) == 0:
        print("empty graph")
        return 1
    if isomorphic(a, b):
        print(f"isomorphic, {len(a)} triples")
        return 0
    _, only_a, only_b = graph_diff(to_isomorphic(a), to_isomorphic(b))
    print("only in JSON-LD:", sorted(only_a)[:10])
    print("only in Turtle:", sorted(only_b)[:10])
    return 1


if __name__ == "__main__":
    if sys.argv[1] == "expand":
        expand(sys.argv[2])
    elif sys.argv[1] == "same-graph":
        sys.exit(same_graph(sys.argv[2], sys.argv[3]))
    else:
        sys.exit(f"unknown command {sys.argv[1]}")
