"""Contents of the PDF and Word documents of the `employeurs` corpus (see build.py)."""

DISCLAIMER = ("Ce document est fourni à titre d'information. Seuls les textes législatifs et réglementaires en "
              "vigueur font foi. La CNSS ne saurait être tenue pour responsable d'une interprétation erronée de "
              "son contenu ; les montants et délais indiqués peuvent être modifiés par voie réglementaire.")

AFFILIATION = [
    ("title", "Guide de l'affiliation des employeurs"),
    ("subtitle", "Direction du Recouvrement et du Contrôle — Service des employeurs — édition 2026"),
    ("p", "Toute entreprise, tout organisme et tout particulier qui emploie au moins un salarié au Gabon doit "
          "être affilié à la Caisse Nationale de Sécurité Sociale. L'affiliation est l'inscription de "
          "l'employeur à la CNSS : elle lui donne un numéro d'employeur, sous lequel il déclarera ses salariés "
          "et paiera ses cotisations. Ce guide explique la démarche pas à pas."),
    ("h1", "1. Qui doit s'affilier ?"),
    ("ul", [
        "les sociétés commerciales (SA, SARL, SAS…) et les entreprises individuelles, quel que soit leur "
        "secteur d'activité ;",
        "les associations, ONG, confessions religieuses, syndicats et partis politiques qui emploient du "
        "personnel ;",
        "les établissements publics, collectivités locales et administrations pour leurs agents "
        "contractuels relevant du Code du travail ;",
        "les représentations diplomatiques et organisations internationales, pour le personnel recruté "
        "localement qui n'est pas couvert par un autre régime ;",
        "les particuliers qui emploient des gens de maison (employé de maison, gardien, chauffeur, "
        "jardinier, nounou).",
    ]),
    ("p", "Les fonctionnaires titulaires de l'État ne relèvent pas de la CNSS pour leur retraite : leur "
          "régime de pension est géré par l'État. Les administrations n'affilient donc à la CNSS que leurs "
          "agents contractuels."),
    ("h1", "2. Dans quel délai ?"),
    ("p", "La demande d'affiliation doit être déposée dans les 8 jours qui suivent l'embauche du premier "
          "salarié, même si celui-ci est en période d'essai ou à temps partiel. L'affiliation est unique : "
          "l'entreprise qui ouvre plusieurs établissements (succursales, chantiers, agences) conserve un seul "
          "numéro d'employeur et déclare ses établissements secondaires à l'agence du siège."),
    ("p", "Les entreprises créées au guichet unique de l'Agence nationale de promotion des investissements "
          "(ANPI-Gabon) peuvent y déposer leur demande d'affiliation en même temps que les formalités de "
          "création ; le dossier est transmis à la CNSS."),
    ("h1", "3. Le dossier d'affiliation"),
    ("p", "Le dossier est déposé à l'agence CNSS du ressort du siège de l'entreprise (Libreville, Owendo, "
          "Port-Gentil, Franceville, Oyem, Lambaréné…). Il comprend, dans tous les cas :"),
    ("ol", [
        "le formulaire « Demande d'affiliation employeur » (DAE), daté, signé et revêtu du cachet de "
        "l'entreprise ;",
        "la liste nominative du personnel, avec pour chaque salarié la date d'embauche, l'emploi occupé et "
        "le salaire brut mensuel ;",
        "une copie du contrat de travail de chaque salarié ;",
        "un plan de localisation de l'entreprise et un numéro de téléphone joignable.",
    ]),
    ("p", "Pièces complémentaires selon la forme de l'employeur :"),
    ("table", ["Type d'employeur", "Pièces complémentaires"], [
        ["Société", "extrait du RCCM de moins de 3 mois ; statuts ; carte NIF ; copie de la pièce d'identité "
                    "du gérant ou du directeur général"],
        ["Entreprise individuelle", "extrait du RCCM ou carte de commerçant ; carte NIF ; copie de la pièce "
                                    "d'identité de l'exploitant"],
        ["Association, ONG", "récépissé de déclaration de l'association ; statuts ; procès-verbal désignant "
                             "le représentant légal et copie de sa pièce d'identité"],
        ["Particulier (gens de maison)", "copie de la pièce d'identité de l'employeur ; justificatif de "
                                          "domicile (facture d'eau ou d'électricité)"],
    ]),
    ("h1", "4. Après le dépôt : le numéro d'employeur"),
    ("p", "Lorsque le dossier est complet, la CNSS attribue un numéro d'employeur de 7 chiffres dans un délai "
          "de 10 jours ouvrables. L'employeur reçoit une attestation d'affiliation et une notification de sa "
          "classe de risque professionnel, qui détermine le taux de la cotisation accidents du travail (voir "
          "la note technique sur les taux et le plafond)."),
    ("p", "Le numéro d'employeur doit figurer sur toutes les déclarations, tous les paiements, tous les "
          "courriers adressés à la CNSS et sur les bulletins de paie. L'employeur peut ensuite ouvrir son "
          "espace sur le portail e-CNSS."),
    ("box", "Conservez l'attestation d'affiliation et la notification de classe de risque avec les statuts de "
            "l'entreprise : elles vous seront demandées lors des contrôles."),
    ("h1", "5. Modifications de la situation de l'employeur"),
    ("p", "Tout changement doit être signalé à l'agence dans les 30 jours, avec le justificatif correspondant :"),
    ("ul", [
        "changement d'adresse du siège ou transfert dans une autre ville ;",
        "changement de raison sociale, de forme juridique ou de dirigeant ;",
        "cession du fonds de commerce, fusion ou absorption : le repreneur est tenu, solidairement avec "
        "l'ancien exploitant, des cotisations restant dues à la date de la cession ;",
        "ouverture ou fermeture d'un établissement secondaire.",
    ]),
    ("h2", "Cessation ou suspension d'activité"),
    ("p", "L'employeur qui cesse définitivement son activité ou n'emploie plus aucun salarié le déclare dans "
          "les 15 jours, dépose une déclaration de salaires de clôture et règle les cotisations dues jusqu'à la "
          "date de cessation. Après vérification du compte, la CNSS prononce la radiation et délivre un "
          "certificat de radiation. L'entreprise qui suspend temporairement son activité peut demander une "
          "mise en sommeil, pour une durée maximale de 2 ans : elle est alors dispensée de déclaration "
          "pendant cette période."),
    ("h1", "6. Que risque l'employeur qui ne s'affilie pas ?"),
    ("ul", [
        "l'affiliation d'office, prononcée par la CNSS après un contrôle ou une dénonciation ;",
        "le rappel des cotisations dues sur les 5 dernières années, assorti des majorations de retard ;",
        "une amende de 100 000 à 1 000 000 FCFA, doublée en cas de récidive ;",
        "le remboursement à la CNSS du coût des prestations versées aux salariés non déclarés, notamment en "
        "cas d'accident du travail.",
    ]),
    ("p", "L'absence d'affiliation prive en outre les salariés de leurs droits, ce qui peut engager la "
          "responsabilité civile de l'employeur à leur égard."),
    ("small", DISCLAIMER),
]

DTS = [
    ("title", "La déclaration trimestrielle des salaires (DTS)"),
    ("subtitle", "Fiche employeur n° 3 — Direction du Recouvrement et du Contrôle — mise à jour février 2026"),
    ("h1", "À quoi sert la DTS ?"),
    ("p", "La déclaration trimestrielle des salaires (DTS) est la déclaration nominative par laquelle "
          "l'employeur indique à la CNSS, pour chaque trimestre civil, la liste de ses salariés et les salaires "
          "qu'il leur a versés. Elle a deux fonctions : elle sert au calcul des cotisations dues par "
          "l'entreprise, et elle alimente le compte individuel de chaque salarié, sur la base duquel seront "
          "calculées plus tard ses prestations, notamment sa pension de retraite. Une DTS incomplète prive donc "
          "le salarié d'une partie de ses droits."),
    ("h1", "Qui doit la déposer ?"),
    ("p", "Tout employeur affilié, quel que soit son effectif, y compris le particulier qui emploie des gens de "
          "maison. Lorsqu'aucun salaire n'a été versé pendant le trimestre, l'employeur dépose une déclaration "
          "« néant » ; seule la mise en sommeil accordée par la CNSS dispense de déclaration."),
    ("h1", "Dates limites de dépôt"),
    ("p", "La DTS est déposée au plus tard le 15 du mois qui suit la fin du trimestre :"),
    ("table", ["Trimestre", "Mois couverts", "Date limite de dépôt"], [
        ["1er trimestre", "janvier, février, mars", "15 avril"],
        ["2e trimestre", "avril, mai, juin", "15 juillet"],
        ["3e trimestre", "juillet, août, septembre", "15 octobre"],
        ["4e trimestre", "octobre, novembre, décembre", "15 janvier de l'année suivante"],
    ]),
    ("p", "Le dépôt de la déclaration et le paiement des cotisations sont deux obligations distinctes : une "
          "entreprise qui ne peut pas payer doit tout de même déposer sa DTS dans le délai."),
    ("h1", "Comment la déposer ?"),
    ("ul", [
        "Depuis le 1er janvier 2025, la télédéclaration sur le portail e-CNSS est obligatoire pour les "
        "employeurs de 20 salariés et plus. Les déclarations papier de ces employeurs sont refusées.",
        "Les employeurs de moins de 20 salariés peuvent choisir la télédéclaration ou l'imprimé papier DTS, "
        "rempli en deux exemplaires et déposé au guichet de l'agence de rattachement ; un exemplaire "
        "tamponné est rendu comme accusé de réception.",
        "Les supports numériques (clé USB, CD) ne sont plus acceptés au guichet.",
    ]),
    ("h1", "Que doit contenir la DTS ?"),
    ("ul", [
        "le numéro d'employeur, la raison sociale et le trimestre déclaré ;",
        "pour chaque salarié : numéro d'assuré, nom et prénoms, date d'entrée et, le cas échéant, date de "
        "sortie au cours du trimestre ;",
        "le salaire brut soumis à cotisation de chacun des trois mois, limité au plafond, et le nombre de "
        "jours ou d'heures travaillés ;",
        "le total des salaires déclarés et le montant des cotisations calculées ;",
        "la date, la signature et le cachet de l'employeur (ou la validation électronique).",
    ]),
    ("h1", "Les nouveaux salariés et les départs"),
    ("p", "Chaque nouveau salarié doit faire l'objet d'une déclaration d'embauche dans les 8 jours qui suivent "
          "son entrée dans l'entreprise, au moyen du formulaire « Déclaration d'embauche et demande "
          "d'immatriculation » ou en ligne. Si le salarié est déjà immatriculé, l'employeur indique son numéro "
          "existant et ne demande pas de nouvelle immatriculation. Si le numéro n'a pas encore été attribué au "
          "moment de la DTS, le salarié est inscrit avec la mention « en cours » et sa date de naissance ; la "
          "CNSS rapproche ensuite les informations."),
    ("p", "Le salarié qui quitte l'entreprise figure sur la DTS du trimestre de son départ, avec sa date de "
          "sortie et les sommes soumises à cotisation versées lors du solde de tout compte."),
    ("h1", "Corriger une déclaration"),
    ("p", "Une erreur (salaire inexact, salarié oublié, numéro erroné) se corrige par une DTS rectificative, "
          "qui peut être déposée jusqu'à la date limite du trimestre suivant. Passé ce délai, l'employeur "
          "adresse à son agence une demande de rectification accompagnée des bulletins de paie concernés ; la "
          "correction est faite après vérification par un contrôleur."),
    ("p", "Les conséquences d'un dépôt tardif (pénalités, taxation d'office) sont exposées dans la circulaire "
          "relative aux majorations et pénalités."),
    ("h1", "Conservation des documents"),
    ("p", "L'employeur conserve pendant 5 ans les copies de ses DTS, les accusés de réception, les livres de "
          "paie et les bulletins de paie. Ces documents sont demandés lors des contrôles d'assiette effectués par "
          "les inspecteurs de la CNSS."),
    ("small", DISCLAIMER),
]

DOCUMENTS = [
    {"file": "guide_affiliation_employeur.pdf", "title": "Guide de l'affiliation des employeurs",
     "header": "CNSS Gabon — Guide de l'affiliation des employeurs", "blocks": AFFILIATION},
    {"file": "declaration_trimestrielle_salaires.docx", "title": "La déclaration trimestrielle des salaires",
     "header": "CNSS Gabon — Direction du Recouvrement et du Contrôle", "blocks": DTS},
]
