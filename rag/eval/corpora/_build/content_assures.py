"""Contents of the PDF and Word documents of the `assures` corpus (see build.py)."""

DISCLAIMER = ("Ce document est fourni à titre d'information. Seuls les textes législatifs et réglementaires en "
              "vigueur font foi. La CNSS ne saurait être tenue pour responsable d'une interprétation erronée de "
              "son contenu ; les montants et délais indiqués peuvent être modifiés par voie réglementaire.")

IMMATRICULATION = [
    ("title", "Guide de l'immatriculation du travailleur salarié"),
    ("subtitle", "Direction de l'Immatriculation et du Recouvrement — édition janvier 2026 — à l'usage des "
                 "travailleurs et de leurs représentants"),
    ("h1", "1. Pourquoi être immatriculé ?"),
    ("p", "L'immatriculation est l'inscription du travailleur au fichier de la Caisse Nationale de Sécurité "
          "Sociale (CNSS). C'est la porte d'entrée de tous vos droits : prestations familiales, indemnités de "
          "congé de maternité, prise en charge des accidents du travail et des maladies professionnelles, et "
          "plus tard pension de vieillesse, d'invalidité ou de survivant pour votre famille. Sans "
          "immatriculation, les salaires versés ne sont pas inscrits à votre compte et les périodes travaillées "
          "ne comptent pas pour votre retraite."),
    ("h1", "2. Qui doit être immatriculé ?"),
    ("p", "Tout travailleur qui exerce une activité salariée au Gabon doit être immatriculé, quels que soient "
          "sa nationalité, son sexe, son âge, la nature de son contrat et le montant de sa rémunération. Sont "
          "notamment concernés :"),
    ("ul", [
        "les salariés en contrat à durée indéterminée ou déterminée, y compris pendant la période d'essai, "
        "dès le premier jour de travail ;",
        "les travailleurs à temps partiel, journaliers, saisonniers et temporaires (intérim) ;",
        "les gens de maison (domestiques, gardiens, chauffeurs, nounous) employés par un particulier ;",
        "les travailleurs étrangers titulaires d'un contrat de travail visé par les services compétents ;",
        "les apprentis sous contrat d'apprentissage, qui sont immatriculés pour la seule branche des risques "
        "professionnels (accidents du travail et maladies professionnelles) ;",
        "les stagiaires des établissements d'enseignement, couverts eux aussi pour les seuls accidents "
        "survenus pendant le stage.",
    ]),
    ("p", "Les travailleurs indépendants (commerçants, artisans, professions libérales) ne sont pas immatriculés "
          "d'office : ils peuvent adhérer à l'assurance volontaire décrite au chapitre 6."),
    ("p", "Les fonctionnaires titulaires de l'État ne sont pas immatriculés à la CNSS pour leur retraite : leur "
          "pension relève du régime propre à la fonction publique et non de la CNSS."),
    ("h1", "3. Qui fait la démarche, et dans quel délai ?"),
    ("p", "C'est à l'EMPLOYEUR qu'il revient de demander l'immatriculation de chaque nouveau salarié. Il doit "
          "le faire dans les 8 jours qui suivent l'embauche, au moyen du formulaire « Déclaration d'embauche et "
          "demande d'immatriculation », déposé à l'agence CNSS dont il dépend ou transmis en ligne depuis son "
          "espace e-CNSS. Le travailleur doit remettre à son employeur les pièces listées ci-dessous dès la "
          "signature du contrat."),
    ("p", "Le cas du travailleur qui change d'employeur est traité dans la note « Votre carrière »."),
    ("h1", "4. Les pièces à fournir par le travailleur"),
    ("ol", [
        "une copie de l'acte de naissance ou, à défaut, du jugement supplétif d'acte de naissance ;",
        "une copie de la carte nationale d'identité ou du passeport en cours de validité ;",
        "deux photos d'identité récentes, en couleur, sur fond blanc ;",
        "une copie du contrat de travail ou de la lettre d'engagement mentionnant la date d'embauche ;",
        "un numéro de téléphone personnel (pour les SMS de la CNSS) et, si possible, une adresse "
        "électronique ;",
        "pour les travailleurs étrangers : une copie de la carte de séjour ou du titre de séjour en cours de "
        "validité, et du contrat de travail visé.",
    ]),
    ("p", "Les pièces concernant le conjoint et les enfants ne sont pas demandées à ce stade : elles sont "
          "déposées séparément, lors de l'ouverture du dossier famille pour les prestations familiales."),
    ("box", "Un dossier incomplet n'est pas enregistré : l'agence le retourne à l'employeur avec la liste des "
            "pièces manquantes, et le délai d'attribution du numéro ne court qu'à partir du dépôt complet."),
    ("h1", "5. Le numéro d'assuré"),
    ("p", "Lorsque le dossier est complet, la CNSS attribue au travailleur un numéro d'immatriculation de 11 "
          "chiffres dans un délai de 15 jours ouvrables. Le numéro est notifié à l'employeur et communiqué au "
          "travailleur par SMS. L'employeur le reporte sur chaque bulletin de paie et sur ses déclarations "
          "trimestrielles de salaires."),
    ("p", "Pour vérifier que votre immatriculation a bien été faite, présentez-vous au guichet de n'importe "
          "quelle agence avec votre pièce d'identité, ou consultez la rubrique « Mon immatriculation » de "
          "l'espace assuré du portail e-CNSS en saisissant votre date de naissance et votre numéro de pièce "
          "d'identité. La carte d'assuré est fabriquée ensuite ; sa délivrance fait l'objet d'une fiche "
          "pratique séparée."),
    ("h1", "6. L'assurance volontaire"),
    ("p", "L'assurance volontaire permet de se constituer des droits à pension (vieillesse, invalidité, "
          "survivants) quand on n'est pas, ou plus, salarié. Elle ne donne pas droit aux prestations "
          "familiales ni à la couverture des accidents du travail."),
    ("h2", "Qui peut adhérer ?"),
    ("ul", [
        "l'ancien salarié qui a été immatriculé pendant au moins 12 mois et qui cesse d'être salarié : il "
        "doit présenter sa demande dans les 6 mois qui suivent la fin de son dernier contrat ;",
        "le travailleur indépendant (commerçant, artisan, agriculteur, profession libérale) âgé de moins de "
        "55 ans, à tout moment, sur justification de son activité (registre du commerce, carte "
        "professionnelle, patente).",
    ]),
    ("h2", "Combien coûte-t-elle ?"),
    ("p", "La cotisation est de 7,5 % d'un revenu mensuel choisi par l'adhérent, compris entre 150 000 FCFA et "
          "1 500 000 FCFA. Elle est payable chaque trimestre, au plus tard le 15 du mois qui suit le trimestre, "
          "par virement, mobile money ou au guichet. Exemple : pour un revenu choisi de 300 000 FCFA, la "
          "cotisation est de 22 500 FCFA par mois, soit 67 500 FCFA par trimestre."),
    ("p", "Deux trimestres consécutifs impayés entraînent la radiation de l'assurance volontaire ; les "
          "périodes déjà payées restent acquises."),
    ("h2", "Comment adhérer ?"),
    ("p", "Déposez à l'agence le formulaire « Demande d'adhésion à l'assurance volontaire » accompagné d'une "
          "copie de la pièce d'identité, de la carte d'assuré pour les anciens salariés ou du justificatif "
          "d'activité pour les indépendants, et d'un RIB. La décision est notifiée sous 30 jours."),
    ("h1", "7. Questions fréquentes"),
    ("h2", "Je suis en période d'essai, mon employeur doit-il déjà me déclarer ?"),
    ("p", "Oui. L'obligation commence au premier jour de travail, période d'essai comprise. Si l'essai n'est "
          "pas concluant, la courte période travaillée est tout de même inscrite à votre compte."),
    ("h2", "Je travaille comme nounou chez un particulier. Suis-je concerné ?"),
    ("p", "Oui. Le particulier employeur doit demander votre immatriculation comme tout employeur, "
          "dans le même délai de 8 jours."),
    ("h2", "J'ai plus de 60 ans et je reprends un emploi salarié."),
    ("p", "Vous devez être immatriculé comme tout salarié. Si vous percevez déjà une pension de la CNSS, "
          "signalez-le à l'agence."),
    ("box", "L'immatriculation à la CNSS ne vaut pas inscription à l'assurance maladie. La carte CNAMGS, les "
            "remboursements de soins et de médicaments relèvent exclusivement de la CNAMGS : adressez-vous "
            "à ses services."),
    ("small", DISCLAIMER),
]

GROSSESSE = [
    ("title", "Grossesse et naissance : allocations prénatales et allocation de maternité"),
    ("subtitle", "Fiche Prestations familiales n° 4 — Direction des Prestations Sociales — version de "
                 "janvier 2026"),
    ("p", "Dès le début de la grossesse, la CNSS accompagne les familles de travailleurs salariés par deux "
          "prestations en espèces : les allocations prénatales, versées pendant la grossesse pour encourager "
          "le suivi médical de la future mère, et l'allocation de maternité, versée à la naissance de "
          "l'enfant. Ces prestations s'ajoutent, pour la salariée, aux indemnités journalières du congé de "
          "maternité, qui font l'objet d'une fiche distincte."),
    ("h1", "Qui peut en bénéficier ?"),
    ("ul", [
        "la femme salariée immatriculée à la CNSS ;",
        "l'épouse, mariée civilement, d'un travailleur salarié immatriculé, même si elle-même ne travaille "
        "pas ; c'est alors le mari assuré qui dépose le dossier ;",
        "la compagne non mariée d'un assuré n'ouvre pas droit aux allocations prénatales ; en revanche "
        "l'allocation de maternité est due à l'assuré qui reconnaît l'enfant.",
    ]),
    ("p", "L'assuré(e) doit avoir travaillé au moins 18 jours ou 120 heures au cours du mois précédant la "
          "déclaration de grossesse."),
    ("h1", "Première étape : déclarer la grossesse"),
    ("p", "La grossesse doit être déclarée à la CNSS avant la fin du troisième mois. Lors du premier examen "
          "prénatal, le médecin ou la sage-femme remplit et signe le formulaire « Déclaration de grossesse », "
          "qui indique la date présumée de l'accouchement. Ce formulaire est ensuite déposé à l'agence CNSS "
          "avec une copie de la carte d'assuré et, pour l'épouse d'un assuré, une copie de l'acte de mariage."),
    ("p", "Une déclaration faite après le troisième mois reste possible, mais les fractions correspondant aux "
          "examens qui n'ont pas été passés ou déclarés à temps sont perdues."),
    ("h1", "Les allocations prénatales"),
    ("p", "Le montant total des allocations prénatales est de 40 500 FCFA, soit l'équivalent de 4 500 FCFA "
          "pour chacun des neuf mois de la grossesse. Il est versé en trois fractions, chacune subordonnée à un "
          "examen médical prénatal :"),
    ("table", ["Fraction", "Examen prénatal", "Période", "Montant", "Pièce à déposer"], [
        ["1re", "premier examen", "avant la fin du 3e mois", "9 000 FCFA", "déclaration de grossesse signée"],
        ["2e", "deuxième examen", "au cours du 6e mois", "18 000 FCFA", "fiche d'examen du 6e mois"],
        ["3e", "troisième examen", "au cours du 8e mois", "13 500 FCFA", "fiche d'examen du 8e mois"],
    ]),
    ("p", "Chaque fiche d'examen est remise par le centre de santé et doit être déposée à l'agence dans le mois "
          "qui suit l'examen. Le paiement de chaque fraction intervient dans les 30 jours suivant le dépôt, "
          "sur le compte bancaire ou mobile money de l'allocataire."),
    ("p", "Si la grossesse s'interrompt, les fractions déjà versées restent acquises ; les fractions suivantes "
          "ne sont pas dues."),
    ("h1", "L'allocation de maternité (prime à la naissance)"),
    ("p", "L'allocation de maternité est une somme forfaitaire de 30 000 FCFA versée pour chaque enfant né "
          "vivant. En cas de naissance de jumeaux, elle est donc de 60 000 FCFA ; pour des triplés, de "
          "90 000 FCFA. Elle est due pour toutes les naissances, quel que soit le rang de l'enfant."),
    ("p", "Conditions :"),
    ("ul", [
        "l'accouchement a eu lieu dans une formation sanitaire (hôpital, centre de santé, clinique) ou "
        "a été assisté par une sage-femme ou un médecin qui en atteste ;",
        "la demande est déposée au plus tard 6 mois après la naissance, avec l'extrait d'acte de naissance "
        "de l'enfant et le formulaire « Demande d'allocation de maternité » ;",
        "l'enfant a été déclaré à l'état civil.",
    ]),
    ("p", "L'allocation de maternité n'est pas due pour un enfant mort-né."),
    ("h1", "Et après ?"),
    ("p", "Après la naissance, pensez à ajouter l'enfant à votre dossier famille pour qu'il ouvre droit aux "
          "allocations familiales. La salariée qui prend son congé de maternité doit en outre déposer "
          "une demande d'indemnités journalières (fiche séparée)."),
    ("small", DISCLAIMER),
]

DOCUMENTS = [
    {"file": "guide_immatriculation_travailleur.pdf", "title": "Guide de l'immatriculation",
     "header": "CNSS Gabon — Guide de l'immatriculation du travailleur salarié", "blocks": IMMATRICULATION},
    {"file": "grossesse_naissance_prestations.docx", "title": "Grossesse et naissance",
     "header": "CNSS Gabon — Direction des Prestations Sociales", "blocks": GROSSESSE},
]
