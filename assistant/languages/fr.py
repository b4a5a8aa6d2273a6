"""French requests read into English phrases (see the package docstring). The English inserted by a rule is
held between ``«»`` while the rules run, so that only the French words left over become terms: a French
word must never reach the English search, where "des" and "ma" match catalog titles.

>>> text, terms = rewrite("une théière et des tasses pour six personnes, environ 25 livres")
>>> " ".join(text.split()), terms
('⟦0⟧ and ⟦1⟧ for 6 people , about £25', ['théière', 'tasses'])
>>> rewrite("enlève le deuxième")[0].split()
['remove', 'the', 'second', 'one']
"""

from __future__ import annotations

import re

from assistant.languages import one_each, placeholder

_ACCENTS = {"à": "aâä", "â": "aàä", "é": "eèêë", "è": "eéêë", "ê": "eéèë", "ë": "eéèê", "î": "iï", "ï": "iî",
            "ô": "oö", "ù": "uûü", "û": "uùü", "ç": "c", "œ": "oe"}
_FOLD = str.maketrans({k: v[0] for k, v in _ACCENTS.items()} | {"œ": "oe"})


def fold(text: str) -> str:
    """``text`` without accents, for looking a matched word up ("collegues" is "collègues")."""
    return text.lower().translate(_FOLD)


def loose(pattern: str) -> str:
    """A rule's regex where each accented letter outside a character class also matches its unaccented
    forms: shoppers type "noel", "a moins de", "collegues" as often as "noël", "à", "collègues"."""
    out, in_class, escaped = [], False, False
    for ch in pattern:
        if escaped:
            out.append(ch)
            escaped = False
        elif ch == "\\":
            out.append(ch)
            escaped = True
        elif ch == "[" and not in_class:
            in_class = True
            out.append(ch)
        elif ch == "]" and in_class:
            in_class = False
            out.append(ch)
        elif not in_class and ch in _ACCENTS and ch != "œ":
            out.append(f"[{ch}{_ACCENTS[ch]}]")
        elif not in_class and ch == "œ":
            out.append("(?:œ|oe)")
        else:
            out.append(ch)
    return "".join(out)


NUMBERS = {"un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6, "sept": 7, "huit": 8,
           "neuf": 9, "dix": 10, "onze": 11, "douze": 12, "treize": 13, "quatorze": 14, "quinze": 15,
           "seize": 16, "vingt": 20, "trente": 30, "quarante": 40, "cinquante": 50, "cent": 100,
           "une douzaine": 12, "une dizaine": 10, "quelques": 3}
ORDINALS = {"premier": "first", "première": "first", "deuxième": "second", "second": "second",
            "seconde": "second", "troisième": "third", "quatrième": "fourth", "cinquième": "fifth",
            "dernier": "last", "dernière": "last", "1er": "first", "2e": "second", "3e": "third"}
OCCASIONS = [
    ("fête d'anniversaire", "birthday party"), ("anniversaire de mariage", "anniversary"),
    ("goûter d'anniversaire", "birthday party"), ("anniversaire", "birthday"), ("goûter", "tea party"),
    ("thé entre amis", "tea party"), ("après-midi thé", "afternoon tea"), ("thé de l'après-midi", "afternoon tea"),
    ("noël", "christmas"), ("mariage", "wedding"), ("baby shower", "baby shower"), ("naissance", "new baby"),
    ("pendaison de crémaillère", "housewarming"), ("crémaillère", "housewarming"),
    ("nouvelle maison", "new home"), ("pique-nique", "picnic"), ("pique nique", "picnic"),
    ("dîner", "dinner party"), ("fête au jardin", "garden party"), ("halloween", "halloween"),
    ("saint-valentin", "valentine"), ("saint valentin", "valentine"), ("pâques", "easter"),
    ("fête des mères", "mother's day"), ("fête des pères", "father's day"), ("barbecue", "barbecue"),
    ("pâtisserie", "baking"), ("remerciement", "thank you"), ("merci à", "thank you"), ("retraite", "retirement"),
    ("remise de diplôme", "graduation"), ("petit-déjeuner", "breakfast"), ("petit déjeuner", "breakfast"),
    ("enterrement de vie de jeune fille", "hen party"), ("fête d'enfants", "kids party"),
    ("fête pour enfants", "kids party"), ("fête", "party"), ("soirée", "party"), ("camping", "camping"),
    ("rentrée", "school"), ("école", "school"), ("bureau", "office"), ("jardinage", "gardening"),
    ("père noël secret", "secret santa"), ("prompt rétablissement", "get well"),
    ("chaussettes de noël", "stocking filler"),
]
RECIPIENTS = [
    ("mère", "mum"), ("maman", "mum"), ("père", "dad"), ("papa", "dad"), ("grand-mère", "grandma"),
    ("mamie", "grandma"), ("grand-père", "grandad"), ("papi", "grandad"), ("sœur", "sister"), ("soeur", "sister"),
    ("frère", "brother"), ("femme", "wife"), ("épouse", "wife"), ("mari", "husband"), ("copine", "girlfriend"),
    ("copain", "boyfriend"), ("meilleure amie", "friend"), ("meilleur ami", "friend"), ("amie", "friend"),
    ("ami", "friend"), ("patron", "boss"), ("patronne", "boss"), ("collègue", "colleague"),
    ("professeur", "teacher"), ("maîtresse", "teacher"), ("maître", "teacher"), ("fille", "daughter"),
    ("fils", "son"), ("nièce", "niece"), ("neveu", "nephew"), ("tante", "aunt"), ("oncle", "uncle"),
    ("voisine", "neighbour"), ("voisin", "neighbour"), ("enfants", "kids"), ("bébé", "baby"),
    ("hôte", "host"), ("hôtesse", "host"), ("parents", "parents"), ("beaux-parents", "in-laws"),
]
OCCASIONS.sort(key=lambda p: -len(p[0]))  # "fête des mères" before "fête", "grand-mère" before "mère"
RECIPIENTS.sort(key=lambda p: -len(p[0]))
_PEOPLE = {"personnes": "people", "personne": "people", "invités": "guests", "invitées": "guests",
           "convives": "guests", "enfants": "kids", "amis": "friends", "amies": "friends", "adultes": "adults",
           "collègues": "colleagues", "gamins": "kids"}
_PEOPLE_F = {fold(k): v for k, v in _PEOPLE.items()}
_ORDINALS = {fold(k): v for k, v in ORDINALS.items()}
_NUMBERS = {fold(k): v for k, v in NUMBERS.items()}
_THINGS = r"articles?|objets?|choses?|cadeaux|produits?|trucs?|idées|pièces?"
# French function words: never a term, never searched
_FUNCTION_TEXT = (
    "salut bonjour coucou pourriez pourrais pouvez peux mise mis deja déjà plein elles ils ont encore proposer "
    "conseiller montrer suggérer "
    "remercier fin année famille affaires "
    "de du des la le les l d un une et ou à au aux en pour avec mon ma mes ton ta tes son sa ses notre nos "
    "votre vos leur leurs ce cet cette ces qui que qu je j tu il elle nous vous on est sont suis pas ne n "
    "très plus bien quelque quelques chose choses s plaît svp merci aussi y a par sur dans comme tout tous "
    "toute toutes peu petit petite petits petites joli jolie jolis jolies sympa bon bonne idée idées aimerais "
    "voudrais cherche veux faut besoin trouver offrir acheter donner propose proposez moi me m mais alors "
    "donc ça cela ceci quoi autre autres genre type style organise organiser organisons prépare préparer "
    "dépenser reste sous option options lot article articles truc trucs chacun chacune total rien thème celui "
    "celle ceux seul seule juste voici voilà "
)
FUNCTION = frozenset(_FUNCTION_TEXT.split())
_CUR = r"(?:livres?(?:\s+sterling)?|£|euros?|€|dollars?|\$)"
_N = r"(?P<n>\d+(?:[.,]\d{1,2})?)"


def _money(n: str, cur: str | None) -> str:
    c = (cur or "").lower()
    sym = "€" if c.startswith(("euro", "€")) else "$" if c.startswith(("dollar", "$")) else "£"
    return f"{sym}{n.replace(',', '.')}" if cur else n.replace(",", ".")


def _amt(prefix: str = "") -> str:
    return (rf"(?P<{prefix}s>£|€|\$)?\s*{_N.replace('?P<n>', f'?P<{prefix}n>')}\s*"
            rf"(?P<{prefix}c>{_CUR})?")


def _am(m: re.Match[str], prefix: str = "") -> str:
    return _money(m.group(prefix + "n"), m.group(prefix + "s") or m.group(prefix + "c"))


_HELD = 0xE000
"""English a rule inserted is held as one private-use character (``_en``) while the rules run: no later
rule can read it again, and only the French words left over become terms."""


def _en(text: str, held: list[str]) -> str:
    held.append(text)
    return f" {chr(_HELD + len(held) - 1)} "


def _number(word: str) -> int:
    return int(word) if word.isdigit() else _NUMBERS[fold(word)]


_REMOVE = r"(?:enlève|enlevez|enlever|retire|retirez|retirer|supprime|supprimez|supprimer|vire|ôte)"
_SWAP = r"(?:change|changez|changer|remplace|remplacez|remplacer|échange|échangez)"
_NOT = (r"(?:sans|pas (?:celui|celle|ceux|celles)(?: avec| en| à)?|pas de|pas d'|aucune?|sauf|excepté|à part|"
        r"rien en|rien avec|rien (?:sur le thème|sur le thème de|de|du|en rapport avec|qui rappelle)|évite[rz]?|"
        r"pas\s+(?:les?|la|des))")


def _terms(chunk: str, terms: list[str], negated: bool = False) -> str:
    """Each term of a French chunk ("des bougies ou des ballons"), marked, joined with "or"."""
    out = []
    for part in re.split(r",|;|/|\bet\b|\bou\b|\bni\b", chunk):
        words = [w for w in re.split(r"[\s'-]+", part.strip()) if w and w.lower() not in FUNCTION]
        if words:
            out.append(placeholder(terms, " ".join(words), negated).strip())
    return " " + " \ue8ff ".join(out) + " " if out else " "  # \ue8ff: a held "and" (see rewrite)


_TERM = r"(?P<x>[^,.;!?\ue000-\uf8ff]+?)"
_END = (r"(?=\s*(?:[,.;!?\ue000-\uf8ff]|$|\b(?:moins|pour|avec|mais|entre|environ|budget|maximum|max|pas plus|sans|"
        r"s'il|svp|merci)\b))")


def rewrite(text: str) -> tuple[str, list[str]]:
    """``text`` with what the rules read turned into English phrases, and the foreign terms left."""
    terms: list[str] = []
    held: list[str] = []
    t = " " + text.replace("’", "'") + " "
    flags = re.I

    def sub(pattern: str, repl, t: str) -> str:  # noqa: ANN001 - a str or a function of the match
        return re.sub(loose(pattern), repl, t, flags=flags)

    ordinal = "|".join(sorted(map(re.escape, ORDINALS), key=len, reverse=True))
    t = sub(rf"\b(?:le|la|l')\s*(?P<o>{ordinal})\b(?:\s+(?:article|objet|produit|truc))?",
            lambda m: _en(f"the {_ORDINALS[fold(m.group('o'))]} one", held), t)
    number = "|".join(sorted(map(re.escape, NUMBERS), key=len, reverse=True))
    count = rf"(?P<c>\d{{1,3}}|{number})"

    def n_of(m: re.Match[str]) -> int:
        c = m.group("c").lower()
        return int(c) if c.isdigit() else _NUMBERS[fold(c)]

    # edits of the current bundle
    t = sub(r"^\s*(?:on\s+)?(?:recommence[rz]?|recommençons|tout effacer|on efface tout|repartons de zéro|"
            r"reprendre à zéro)\b", _en("start over", held), t)
    t = sub(rf"\b(?:en fait|finalement)?[, ]*(?:mon|le)\s+budget\s+(?:est|sera|passe)\s+(?:de|à)\s+{_amt()}",
            lambda m: _en(f"actually my budget is {_am(m)}", held), t)
    t = sub(rf"\b(?:plutôt|seulement|juste|réduis à|passe à|mets-en|mets en)\s+{count}"
            rf"(?:\s+(?:{_THINGS}))?(?!\s*(?:£|€|livres?|euros?|\d))\b",
            lambda m: _en(f"make it {n_of(m)} items", held), t)
    t = sub(r"\b(?:moins ch(?:er|ère)s?|moins coûteu(?:x|se)s?|plus abordables?|meilleur marché|pas cher|pas chère)\b",
            _en("cheaper", held), t)
    t = sub(rf"\b(?:enlève|enlevez|enlever|retire|retirez|retirer|supprime|supprimez|supprimer|vire|ôte)\s+"
            rf"(?:tout ce qui (?:a|contient|est en)|tous? les articles? (?:avec|en))\s+{_TERM}{_END}",
            lambda m: _en("remove anything with", held) + _terms(m.group("x"), terms, negated=True), t)
    t = sub(r"\b(?:enlève|enlevez|enlever|retire|retirez|retirer|supprime|supprimez|supprimer|vire|ôte)\s+"
            r"(?=\s*[\ue000-\uf8ff])", _en("remove", held), t)
    t = sub(rf"\b{_REMOVE}\s+{_TERM}{_END}",
            lambda m: _en("remove", held) + _terms(m.group("x"), terms), t)
    t = sub(rf"\b{_SWAP}\s+(?P<t>[\ue000-\uf8ff]|{_TERM})"
            rf"\s+(?:pour|par|contre)\s+(?:un|une)?\s*(?:autre|différente?)\b",
            lambda m: _en("swap", held) + (m.group("t") if _is_held(m.group("t")) else _terms(m.group("x"), terms))
            + _en("for a different one", held), t)
    t = sub(rf"\b{_SWAP}\s+(?P<t>[\ue000-\uf8ff]|{_TERM})"
            rf"\s+(?:pour|par|contre)\s+{_TERM.replace('?P<x>', '?P<y>')}{_END}",
            lambda m: _en("swap", held) + (m.group("t") if _is_held(m.group("t")) else _terms(m.group("x"), terms))
            + _en("for", held) + _terms(m.group("y"), terms), t)
    t = sub(rf"\b(?:change|changez|changer|remplace|remplacez|remplacer)\s+(?P<t>[\ue000-\uf8ff]|{_TERM}){_END}",
            lambda m: _en("swap", held) + (m.group("t") if _is_held(m.group("t")) else _terms(m.group("x"), terms)), t)
    t = sub(r"\b(?:(?:ajoute|ajoutez|rajoute|rajoutez|mets)\s+)?(?:encore un|encore une|un de plus|une de plus|"
            r"un autre article|un article de plus|un autre truc)(?:\s+(?:article|truc|objet|chose))?\b",
            _en("one more", held), t)
    t = sub(r"\b(?:un seul|une seule|juste un|juste une|seulement un|seulement une)\s+(?:article|objet|cadeau|"
            r"chose|truc|produit)\b|\b(?:un|une) (?:article|objet|cadeau) seulement\b", _en("1 things", held), t)
    one_each_re = loose(r"\b(?:un|une)\s+(?:\w+\s+){0,2}?(?:à|pour)\s+chacun(?:e)?\b|\b(?:un|une) par "
                        r"(?:personne|enfant|invité|tête|collègue|ami|amie)\b|\bchacun(?:e)? (?:un|une|le sien)\b")
    each = bool(re.search(one_each_re, t, flags))
    t = re.sub(one_each_re, " ", t, flags=flags)
    t = sub(rf"^\s*(?:et\s+)?(?:ajoute|ajoutez|ajouter|rajoute|rajoutez|mets aussi|ajoute aussi)\s+{_TERM}{_END}",
            lambda m: _en("add", held) + _terms(m.group("x"), terms), t)

    t = sub(rf"\b(?:garde|gardez|je garde|j'aime bien)\s+{_TERM}{_END}",
            lambda m: _en("keep", held) + _terms(m.group("x"), terms), t)

    # money
    t = sub(rf"\bentre\s+{_amt('a')}\s+et\s+{_amt('b')}",
            lambda m: _en(f"between {_am(m, 'a')} and {_am(m, 'b')}", held) if (m.group("as") or m.group("ac") or
                                                                           m.group("bs") or m.group("bc"))
            else m.group(0), t)
    t = sub(rf"\b(?:moins de|pas plus de|maximum|max|au maximum|au plus|jusqu'à|inférieur à|sous les|sous|"
            rf"budget max(?:imum)?"
            rf"(?: de)?)\s*:?\s*{_amt()}", lambda m: _en(f"under {_am(m)}", held), t)
    t = sub(rf"{_amt()}\s*(?:maximum|max|au maximum|au plus|grand maximum)\b",
            lambda m: _en(f"under {_am(m)}", held), t)
    t = sub(rf"\b(?:environ|à peu près|autour de|dans les|aux alentours de|approximativement)\s*{_amt()}",
            lambda m: _en(f"about {_am(m)}", held) if m.group("s") or m.group("c") else m.group(0), t)
    t = sub(rf"\b(?:un |mon |avec un |pour un )?budget\s*(?:de|d'environ|:)?\s*{_amt()}",
            lambda m: _en(f"budget {_am(m)}", held), t)
    t = sub(rf"(?P<c>£|€|\$)\s*{_N}", lambda m: _en(_money(m.group("n"), m.group("c")), held), t)
    t = sub(rf"{_N}\s*(?P<c>{_CUR})", lambda m: _en(_money(m.group("n"), m.group("c")), held), t)

    # people and counts
    people = "|".join(sorted(map(re.escape, _PEOPLE), key=len, reverse=True))
    t = sub(rf"\b(?:pour|à)\s+{count}\s+(?P<p>{people})\b",
            lambda m: _en(f"for {n_of(m)} {_PEOPLE_F[fold(m.group('p'))]}", held), t)
    t = sub(rf"\b{count}\s+(?P<p>{people})\b", lambda m: _en(f"{n_of(m)} {_PEOPLE_F[fold(m.group('p'))]}", held), t)
    t = sub(rf"\bpour\s+(?!une?\b){count}\b(?!\s*(?:£|€|livres?|euros?))",
            lambda m: _en(f"for {n_of(m)} people", held), t)
    t = sub(rf"\b{count}\s+(?:{_THINGS})\b", lambda m: _en(f"{n_of(m)} things", held), t)
    t = sub(rf"\b(?:il (?:m'|nous )?en faut|j'en veux|j'en voudrais|en prendre)\s+{count}\b"
            rf"|\b{count.replace('?P<c>', '?P<c2>')}\s+(?:en tout|au total)\b",
            lambda m: _en(f"{_number(m.group('c') or m.group('c2'))} of them", held), t)
    t = sub(rf"\b{count}\s+(?:d'entre eux|d'entre elles|de ceux-là|de celles-là)\b",
            lambda m: _en(f"{n_of(m)} of them", held), t)
    t = sub(r"\b(?P<c>\d{1,2}|deux|trois|quatre|cinq|six|sept|huit|neuf|dix|douze)\s+(?P<x>[^\W\d_][\w-]*s)\b",
            lambda m: _en(str(n_of(m)), held) + _terms(m.group("x"), terms).replace("⟧", "s⟧", 1), t)

    # exclusions and must-haves
    t = sub(rf"\b{_NOT}\s*"
            rf"{_TERM}{_END}", lambda m: _en("no", held) + _terms(m.group("x"), terms, negated=True), t)
    t = sub(rf"{_TERM}\s+(?:non|non merci|exclus|exclues)\b",
            lambda m: _en("no", held) + _terms(m.group("x"), terms, negated=True), t)
    t = sub(rf"\b(?:avec (?:un|une|des|du|de la)|il faut (?:un|une|des)?|doit (?:inclure|contenir|avoir)|"
            rf"y compris|inclure|incluant|plus (?:un|une|des))\s+{_TERM}{_END}",
            lambda m: _en("must include a", held) + _terms(m.group("x"), terms), t)

    # occasions, recipients, gifts
    for word, english in OCCASIONS:
        t = sub(rf"\b{re.escape(word)}s?\b", _en(english, held), t)
    for word, english in RECIPIENTS:
        t = sub(rf"\b(?:pour|à|offrir à)?\s*(?:ma|mon|mes|notre|nos|la|le|les|l'|un|une)?\s*{re.escape(word)}s?\b",
                _en(f"for my {english}", held), t)
    t = sub(r"\b(?:qui|qu'il|qu'elle)\s+(?:aime|adore|est fan de|collectionne)\s+(?:les?|la|l'|des)?\s*"
            rf"{_TERM}{_END}", lambda m: _en("who loves", held) + _terms(m.group("x"), terms), t)
    t = sub(r"\b(?:cadeaux?|présents?)\b", _en("gift", held), t)

    # the French left is what the shopper wants
    t = re.sub(r"⟦\d+s?!?⟧|[^,.;!?\ue000-\uf8ff⟦⟧]+", lambda m: _terms(m.group(0), terms)
               if not m.group(0).startswith("⟦") and re.search(r"[^\W\d_]", m.group(0)) else m.group(0), t)
    english = re.sub(r"[\ue000-\uf8ff]", lambda m: "and" if m.group(0) == "\ue8ff" else held[ord(m.group(0)) - _HELD],
                     t)
    return one_each(english, each), terms


def _is_held(text: str) -> bool:
    return len(text) == 1 and ord(text) >= _HELD
