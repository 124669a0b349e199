"""The home page as the tests read it: its cards and their code, selects, datalists and scripts."""

from html.parser import HTMLParser

from pypipin.web import home


class Outline(HTMLParser):
    """What the tests read from the page: cards and their code, selects, datalists, scripts."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.cards: dict[str, list[str]] = {}  # data-kind -> texts of its <code> elements
        self.options: dict[str, list[str]] = {}  # select or datalist id -> option values
        self.scripts: dict[str, str] = {}  # script id -> its text
        self.links: list[str] = []  # src and href of scripts and stylesheets
        self.codes: list[str] = []
        self._card: str | None = None
        self._list: str | None = None
        self._script: str | None = None
        self._code: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if "id" in found:
            self.ids.append(found["id"])
        if tag == "article" and "data-kind" in found:
            self._card = found["data-kind"]
            self.cards[self._card] = []
        elif tag in ("select", "datalist"):
            self._list = found["id"]
            self.options[self._list] = []
        elif tag == "option" and self._list is not None:
            self.options[self._list].append(found.get("value", ""))
        elif tag == "code":
            self._code = []
        elif tag == "script":
            self._script = found.get("id", "")
            self.scripts[self._script] = ""
            if "src" in found:
                self.links.append(found["src"])
        elif tag == "link" and found.get("rel") == "stylesheet":
            self.links.append(found["href"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "article":
            self._card = None
        elif tag in ("select", "datalist"):
            self._list = None
        elif tag == "script":
            self._script = None
        elif tag == "code" and self._code is not None:
            text = "".join(self._code)
            self.codes.append(text)
            if self._card is not None:
                self.cards[self._card].append(text)
            self._code = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self.scripts[self._script] += data
        if self._code is not None:
            self._code.append(data)
        if self._list is not None and self.options[self._list] and self.options[self._list][-1] == "":
            self.options[self._list][-1] = data.strip()


PAGE = home.page().decode()


OUTLINE = Outline(PAGE)
