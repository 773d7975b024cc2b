"""Generate the PDF and Word documents of the evaluation corpora.

The .txt, .md and .html documents are written by hand and committed as they are; the .pdf and .docx
ones are produced by this script from the contents in content_<corpus>.py, and the generated files are
committed too (the product never runs this script).

    python3 -m venv /tmp/genvenv && /tmp/genvenv/bin/pip install fpdf2 python-docx
    /tmp/genvenv/bin/python rag/eval/corpora/_build/build.py            # every corpus
    /tmp/genvenv/bin/python rag/eval/corpora/_build/build.py assures    # one corpus

A content is a list of blocks:
    ("title", text) ("subtitle", text) ("h1", text) ("h2", text) ("p", text) ("box", text)
    ("ul", [items]) ("ol", [items]) ("table", [header cells], [[row cells], ...]) ("small", text)
    ("pagebreak",)
"""

from __future__ import annotations

import importlib
import sys
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPORA = HERE.parent
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FIXED_DATE = datetime(2026, 3, 2, 9, 0, 0)  # metadata dates, so that a rebuild changes nothing but what changed


# --------------------------------------------------------------------------------------------- PDF
def render_pdf(blocks: list[tuple], path: Path, header: str, doc_title: str) -> None:
    from fpdf import FPDF, FontFace
    from fpdf.enums import XPos, YPos

    class Doc(FPDF):
        def header(self) -> None:
            if self.page_no() == 1:
                return
            self.set_font("Body", "I", 8)
            self.set_text_color(110, 110, 110)
            self.cell(0, 6, header, align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            self.set_draw_color(0, 102, 51)
            self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
            self.ln(3)
            self.set_text_color(0, 0, 0)

        def footer(self) -> None:
            self.set_y(-14)
            self.set_font("Body", "", 8)
            self.set_text_color(110, 110, 110)
            self.cell(0, 8, f"CNSS Gabon — {doc_title}", align="L")
            self.set_x(self.l_margin)
            self.cell(0, 8, f"Page {self.page_no()}/{{nb}}", align="R")
            self.set_text_color(0, 0, 0)

    pdf = Doc(format="A4")
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_title(doc_title)
    pdf.set_author("CNSS Gabon")
    pdf.set_margins(20, 18, 20)
    pdf.set_auto_page_break(True, margin=20)
    pdf.add_font("Body", "", str(FONT_DIR / "DejaVuSans.ttf"))
    pdf.add_font("Body", "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
    pdf.add_font("Body", "I", str(FONT_DIR / "DejaVuSans-Oblique.ttf"))
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin

    def para(text: str, size: float = 10, style: str = "", indent: float = 0, after: float = 2) -> None:
        pdf.set_font("Body", style, size)
        pdf.set_x(pdf.l_margin + indent)
        pdf.multi_cell(width - indent, size * 0.5, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(after)

    for block in blocks:
        kind = block[0]
        if kind == "title":
            pdf.set_text_color(0, 102, 51)
            para(block[1], 17, "B", after=1)
            pdf.set_text_color(0, 0, 0)
        elif kind == "subtitle":
            para(block[1], 10.5, "I", after=5)
        elif kind == "h1":
            pdf.ln(2)
            pdf.set_text_color(0, 102, 51)
            para(block[1], 13, "B", after=1.5)
            pdf.set_text_color(0, 0, 0)
        elif kind == "h2":
            para(block[1], 11, "B", after=1)
        elif kind == "p":
            para(block[1])
        elif kind == "small":
            pdf.ln(2)
            para(block[1], 8, "I")
        elif kind == "box":
            pdf.set_fill_color(235, 244, 238)
            pdf.set_font("Body", "", 9.5)
            pdf.multi_cell(width, 5, block[1], border=1, fill=True, padding=2,
                           new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.ln(3)
        elif kind in ("ul", "ol"):
            for n, item in enumerate(block[1], 1):
                mark = "•" if kind == "ul" else f"{n}."
                pdf.set_font("Body", "", 10)
                pdf.set_x(pdf.l_margin + 4)
                pdf.cell(6, 5, mark)
                pdf.multi_cell(width - 10, 5, item, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
                pdf.ln(0.8)
            pdf.ln(1.5)
        elif kind == "table":
            head, rows = block[1], block[2]
            pdf.set_font("Body", "", 9)
            style = FontFace(emphasis="BOLD", fill_color=(220, 236, 226))
            with pdf.table(text_align="LEFT", line_height=4.8, padding=1.2, headings_style=style) as table:
                row = table.row()
                for cell in head:
                    row.cell(cell)
                for values in rows:
                    row = table.row()
                    for cell in values:
                        row.cell(cell)
            pdf.ln(3)
        elif kind == "pagebreak":
            pdf.add_page()
        else:
            raise ValueError(kind)
    pdf.output(str(path))


# -------------------------------------------------------------------------------------------- DOCX
def render_docx(blocks: list[tuple], path: Path, header: str, doc_title: str) -> None:
    from docx import Document
    from docx.shared import Pt, RGBColor

    doc = Document()
    doc.core_properties.title = doc_title
    doc.core_properties.author = "CNSS Gabon"
    doc.core_properties.created = FIXED_DATE
    doc.core_properties.modified = FIXED_DATE
    doc.core_properties.revision = 1
    doc.sections[0].header.paragraphs[0].text = header
    doc.sections[0].footer.paragraphs[0].text = "CNSS Gabon — BP 134 Libreville — www.cnss.ga"
    for block in blocks:
        kind = block[0]
        if kind == "title":
            doc.add_heading(block[1], level=0)
        elif kind == "subtitle":
            para = doc.add_paragraph(block[1])
            para.runs[0].italic = True
        elif kind == "h1":
            doc.add_heading(block[1], level=1)
        elif kind == "h2":
            doc.add_heading(block[1], level=2)
        elif kind == "p":
            doc.add_paragraph(block[1])
        elif kind == "small":
            para = doc.add_paragraph(block[1])
            para.runs[0].italic = True
            para.runs[0].font.size = Pt(8)
            para.runs[0].font.color.rgb = RGBColor(0x66, 0x66, 0x66)
        elif kind == "box":
            para = doc.add_paragraph(block[1], style="Intense Quote")
        elif kind in ("ul", "ol"):
            style = "List Bullet" if kind == "ul" else "List Number"
            for item in block[1]:
                doc.add_paragraph(item, style=style)
        elif kind == "table":
            head, rows = block[1], block[2]
            table = doc.add_table(rows=1, cols=len(head))
            table.style = "Table Grid"
            for cell, text in zip(table.rows[0].cells, head, strict=True):
                cell.text = text
                cell.paragraphs[0].runs[0].bold = True
            for values in rows:
                for cell, text in zip(table.add_row().cells, values, strict=True):
                    cell.text = text
            doc.add_paragraph()
        elif kind == "pagebreak":
            doc.add_page_break()
        else:
            raise ValueError(kind)
    doc.save(str(path))
    _fix_zip_times(path)


def _fix_zip_times(path: Path) -> None:
    """A .docx is a zip whose entries carry the time of writing: set them to FIXED_DATE."""
    import zipfile

    with zipfile.ZipFile(path) as source:
        entries = [(info, source.read(info)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for info, data in entries:
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_DATE.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = info.external_attr
            target.writestr(fixed, data)


def main(names: list[str]) -> None:
    sys.dont_write_bytecode = True  # no __pycache__ beside the committed files
    sys.path.insert(0, str(HERE))
    for corpus in names or ["assures", "employeurs", "pensionnes", "independants"]:
        module = importlib.import_module(f"content_{corpus}")
        for spec in module.DOCUMENTS:
            target = CORPORA / corpus / spec["file"]
            render = render_pdf if target.suffix == ".pdf" else render_docx
            render(spec["blocks"], target, spec["header"], spec["title"])
            print("wrote", target.relative_to(CORPORA))


if __name__ == "__main__":
    main(sys.argv[1:])
