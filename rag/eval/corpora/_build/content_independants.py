"""Contents of the PDF and Word documents of the `independants` corpus (see build.py)."""

DISCLAIMER = ("Ce document est fourni à titre d'information. Seuls les textes législatifs et réglementaires en "
              "vigueur font foi. La CNSS ne saurait être tenue pour responsable d'une interprétation erronée de "
              "son contenu ; les montants et délais indiqués peuvent être modifiés par voie réglementaire.")

AFFILIATION = [
    ("title", "Guide de l'affiliation du travailleur indépendant"),
    ("subtitle", "Régime des travailleurs indépendants (RTI) — Direction de l'Immatriculation et du "
                 "Recouvrement — édition février 2026"),
    ("p", "Commerçant, artisan, agriculteur, transporteur, coiffeuse, couturier, avocat ou médecin installé à "
          "son compte : depuis le 1er juillet 2024, le travailleur qui exerce une activité professionnelle sans "
          "être salarié peut se constituer une protection sociale auprès de la CNSS en s'affiliant au régime des "
          "travailleurs indépendants. Ce guide explique qui est concerné, comment s'affilier, quelles pièces "
          "fournir et comment choisir sa classe de revenu."),
    ("h1", "1. Ce que couvre le régime"),
    ("p", "L'affiliation au RTI ouvre droit aux prestations suivantes :"),
    ("ul", [
        "la pension de vieillesse, calculée sur les revenus de référence des mois cotisés ;",
        "la pension d'invalidité, si une maladie ou un accident réduit durablement la capacité de travail ;",
        "la pension de survivant et le capital décès versés à la famille ;",
        "la couverture des accidents survenus pendant l'activité professionnelle et des maladies "
        "professionnelles (soins liés à l'accident, indemnité pendant l'arrêt, rente en cas de séquelles).",
    ]),
    ("p", "Le régime ne comprend pas les prestations familiales (allocations familiales, prestations de "
          "maternité), qui restent réservées aux salariés."),
    ("box", "L'affiliation à la CNSS ne vaut pas inscription à l'assurance maladie. Les consultations, les "
            "médicaments, l'hospitalisation et la carte d'assurance maladie relèvent de la CNAMGS, auprès de "
            "laquelle le travailleur indépendant fait une démarche distincte."),
    ("h1", "2. Qui peut s'affilier ?"),
    ("p", "Toute personne qui exerce au Gabon, à titre principal, une activité non salariée et qui est âgée "
          "d'au moins 18 ans et de moins de 60 ans à la date de sa demande. Sont notamment concernés :"),
    ("ul", [
        "les commerçants, y compris les vendeurs des marchés titulaires d'un emplacement ;",
        "les artisans (menuisiers, mécaniciens, soudeurs, couturiers, coiffeurs, boulangers…) ;",
        "les agriculteurs, éleveurs et pêcheurs ;",
        "les chauffeurs de taxi et de clando propriétaires de leur véhicule, les transporteurs ;",
        "les membres des professions libérales : avocats, médecins, pharmaciens, notaires, architectes, "
        "experts-comptables, consultants ;",
        "les associés gérants non salariés de sociétés.",
    ]),
    ("p", "L'activité peut être déclarée ou non auprès de l'administration fiscale : la CNSS n'exige pas "
          "l'immatriculation au registre du commerce, mais une preuve de l'activité (voir section 4)."),
    ("p", "Le chauffeur qui conduit le taxi d'un propriétaire contre un versement journalier, la vendeuse "
          "payée par une patronne ou le « stagiaire » qui travaille tous les jours pour le même atelier ne sont "
          "pas des indépendants : ce sont des salariés, que leur patron doit déclarer comme tels."),
    ("h1", "3. Quand s'affilier ?"),
    ("p", "La demande d'affiliation est déposée dans les 3 mois qui suivent le début de l'activité. "
          "Les travailleurs déjà installés avant le 1er juillet 2024 peuvent s'affilier à tout moment ; "
          "jusqu'au 31 décembre 2026, ils peuvent en outre racheter jusqu'à 24 mois d'activité antérieure, "
          "sur justification, pour les faire compter dans leur retraite."),
    ("p", "Le travailleur indépendant qui a été salarié auparavant conserve son numéro d'assuré : il ne reçoit "
          "pas de nouveau numéro, son dossier est simplement transféré au régime des indépendants. Les "
          "périodes salariées et les périodes d'activité indépendante s'additionnent pour la pension."),
    ("h1", "4. Les pièces à fournir"),
    ("ol", [
        "le formulaire « Demande d'affiliation — travailleur indépendant » (F-TI 01), rempli et signé ;",
        "une copie de la carte nationale d'identité, du passeport ou, pour les étrangers, de la carte de "
        "séjour en cours de validité ;",
        "une photo d'identité récente ;",
        "un justificatif d'activité, au choix : extrait RCCM, patente, carte professionnelle, attestation "
        "d'inscription à un ordre professionnel, carte de la Chambre des métiers ou de la Chambre "
        "d'agriculture, contrat de location de l'emplacement au marché ou, à défaut, attestation d'exercice "
        "délivrée par la mairie ou le chef de quartier ;",
        "la déclaration sur l'honneur des revenus de l'année précédente (modèle au verso du formulaire), "
        "accompagnée si possible d'un document qui la confirme : déclaration fiscale, bilan, relevés "
        "bancaires ou de mobile money ;",
        "un numéro de téléphone mobile à votre nom, qui servira à recevoir les codes et avis de la CNSS.",
    ]),
    ("p", "Le dossier est déposé dans n'importe quelle agence ou envoyé en ligne depuis le portail e-CNSS, "
          "rubrique « Je suis indépendant ». Le dépôt est gratuit."),
    ("h1", "5. Le numéro d'affilié et le début des droits"),
    ("p", "Lorsque le dossier est complet, la CNSS notifie par SMS, dans un délai de 10 jours ouvrables, un "
          "numéro d'affilié de 11 chiffres commençant par 9, accompagné de la classe de revenu retenue. "
          "Une attestation d'affiliation est délivrée au guichet ou téléchargeable en ligne."),
    ("p", "Les droits courent à partir du premier mois payé : la couverture des accidents professionnels "
          "commence le lendemain du premier paiement, et chaque mois payé compte pour la retraite. Aucune "
          "période n'est prise en compte avant l'affiliation, sauf rachat (section 3)."),
    ("h1", "6. Choisir sa classe de revenu"),
    ("p", "Les cotisations et les prestations ne sont pas calculées sur le revenu réel, souvent irrégulier, "
          "mais sur un revenu de référence forfaitaire correspondant à l'une des 8 classes ci-dessous. Vous "
          "choisissez la classe qui correspond à votre revenu mensuel moyen de l'année précédente."),
    ("table", ["Classe", "Revenu mensuel moyen", "Revenu de référence retenu"], [
        ["1", "moins de 100 000 FCFA", "80 000 FCFA"],
        ["2", "de 100 000 à 199 999 FCFA", "150 000 FCFA"],
        ["3", "de 200 000 à 349 999 FCFA", "275 000 FCFA"],
        ["4", "de 350 000 à 499 999 FCFA", "425 000 FCFA"],
        ["5", "de 500 000 à 749 999 FCFA", "625 000 FCFA"],
        ["6", "de 750 000 à 999 999 FCFA", "875 000 FCFA"],
        ["7", "de 1 000 000 à 1 499 999 FCFA", "1 250 000 FCFA"],
        ["8", "1 500 000 FCFA et plus", "1 500 000 FCFA"],
    ]),
    ("p", "Règles particulières :"),
    ("ul", [
        "pendant les 12 premiers mois d'une activité nouvellement créée, vous pouvez choisir la classe 1 "
        "ou 2, quel que soit le revenu prévu ;",
        "les membres des professions libérales réglementées (avocats, médecins, pharmaciens, notaires, "
        "architectes, experts-comptables) ne peuvent pas choisir une classe inférieure à la classe 5.",
    ]),
    ("h2", "Changer de classe"),
    ("p", "La classe peut être modifiée une fois par an, à la hausse ou à la baisse, par une demande déposée "
          "entre le 1er et le 31 janvier ; la nouvelle classe s'applique à compter du 1er avril. Une baisse "
          "de classe doit être justifiée par une diminution des revenus (déclaration fiscale, relevés). Après "
          "55 ans, la hausse est limitée à une classe par an."),
    ("h1", "7. Les changements à signaler"),
    ("ul", [
        "Arrêt définitif de l'activité : déclarez-le dans les 30 jours avec le formulaire F-TI 04. "
        "L'affiliation prend fin ; les mois payés restent acquis. Si vous ne reprenez pas d'activité, vous "
        "pouvez ensuite demander à adhérer à l'assurance volontaire (fiche séparée).",
        "Interruption temporaire (maladie, chantier arrêté, saison morte) : une suspension de 12 mois au "
        "plus peut être demandée ; aucune cotisation n'est due pendant la suspension, et aucun droit "
        "n'est acquis.",
        "Embauche d'un premier salarié : vous devenez aussi employeur et devez immatriculer votre entreprise "
        "et déclarer ce salarié dans les 8 jours ; votre propre affiliation d'indépendant continue.",
    ]),
    ("h1", "8. Questions fréquentes"),
    ("h2", "Je vends au marché sans patente. Puis-je m'affilier ?"),
    ("p", "Oui. Une attestation d'exercice de la mairie ou du chef de quartier, ou le contrat de location de "
          "votre emplacement, suffit comme justificatif d'activité."),
    ("h2", "J'ai 61 ans et je suis toujours commerçant."),
    ("p", "Une première affiliation n'est plus possible après 60 ans. Si vous étiez déjà affilié avant cet "
          "âge, vous continuez à cotiser normalement."),
    ("small", DISCLAIMER),
]

ASSURANCE_VOLONTAIRE = [
    ("title", "L'assurance volontaire : adhérer, cotiser, arrêter"),
    ("subtitle", "Fiche pratique n° AV-1 — Direction des Prestations et de la Relation Usagers — version du "
                 "15 janvier 2026"),
    ("p", "L'assurance volontaire permet à une personne qui ne relève plus, ou pas, d'un régime obligatoire de "
          "la CNSS de continuer à se constituer des droits à pension. Elle s'adresse surtout aux anciens "
          "salariés et aux anciens travailleurs indépendants qui n'ont plus d'activité, aux Gabonais qui "
          "travaillent à l'étranger et au conjoint qui se consacre au foyer."),
    ("h1", "1. Qui peut adhérer ?"),
    ("p", "L'adhésion est ouverte aux personnes de moins de 60 ans, à la date de la demande, qui entrent dans "
          "l'une des catégories suivantes :"),
    ("table", ["Catégorie", "Condition", "Délai pour demander l'adhésion"], [
        ["Ancien salarié", "au moins 6 mois de cotisations au régime général, au total",
         "12 mois après la fin du dernier contrat de travail"],
        ["Ancien travailleur indépendant", "affiliation au RTI terminée par un arrêt définitif d'activité",
         "12 mois après la date d'arrêt déclarée"],
        ["Gabonais travaillant à l'étranger", "ne pas être couvert par un régime de retraite du pays d'emploi "
         "lié au Gabon par une convention", "à tout moment"],
        ["Conjoint au foyer d'un assuré", "marié civilement à un assuré CNSS en activité, sans activité "
         "rémunérée, âgé de moins de 50 ans", "à tout moment"],
    ]),
    ("p", "Ne peuvent pas adhérer :"),
    ("ul", [
        "les salariés en activité, déjà couverts par leur employeur ;",
        "les travailleurs indépendants en activité, qui doivent s'affilier au régime des travailleurs "
        "indépendants et non à l'assurance volontaire ;",
        "les personnes qui perçoivent déjà une pension de vieillesse de la CNSS ;",
        "les agents publics titulaires : leur retraite relève du régime des pensions de l'État, géré hors de "
        "la CNSS. Un fonctionnaire en disponibilité ou détaché doit se renseigner auprès de son "
        "administration.",
    ]),
    ("h2", "Le délai de 12 mois est-il strict ?"),
    ("p", "Oui. Une demande déposée plus de 12 mois après la fin du contrat ou de l'activité est rejetée. "
          "Seule exception : une hospitalisation ou un empêchement grave, dûment prouvé, prolonge le délai de "
          "la durée de l'empêchement. Les mois écoulés entre la fin du contrat et l'adhésion ne sont pas "
          "couverts et ne peuvent pas être rachetés."),
    ("h1", "2. Ce que couvre l'assurance volontaire"),
    ("ul", [
        "la pension de vieillesse ;",
        "la pension de survivant versée au conjoint et aux orphelins ;",
        "la pension d'invalidité, seulement après 12 mois de cotisations volontaires payées sans "
        "interruption.",
    ]),
    ("p", "Elle ne couvre ni les accidents du travail, ni les prestations familiales. Elle ne donne pas non "
          "plus accès aux soins : la couverture maladie est assurée par la CNAMGS, à laquelle il faut "
          "s'adresser directement."),
    ("p", "Le taux et le montant des cotisations, la classe de revenu à choisir et les moyens de paiement "
          "sont présentés dans la fiche « Cotisations des indépendants et des assurés volontaires »."),
    ("h1", "3. Comment adhérer ?"),
    ("ol", [
        "Retirez le formulaire « Demande d'adhésion à l'assurance volontaire » (F-AV 02) en agence ou "
        "téléchargez-le sur www.cnss.ga, rubrique Formulaires.",
        "Joignez une copie de votre pièce d'identité et la pièce propre à votre situation : certificat de "
        "travail ou attestation de fin de contrat (ancien salarié) ; attestation de radiation du RTI "
        "(ancien indépendant) ; attestation de résidence à l'étranger ou carte consulaire (Gabonais de "
        "l'étranger) ; copie de l'acte de mariage et numéro d'assuré du conjoint (conjoint au foyer).",
        "Déposez le dossier dans une agence ou envoyez-le depuis le portail e-CNSS. Les Gabonais de "
        "l'étranger peuvent aussi l'envoyer par courriel à av@cnss.ga ou le remettre à l'ambassade.",
        "La CNSS notifie sa décision dans un délai de 21 jours. L'adhésion prend effet le premier jour du "
        "mois qui suit l'acceptation, et la première cotisation est due pour ce mois-là.",
    ]),
    ("p", "Vous gardez votre numéro d'assuré habituel : aucun nouveau numéro n'est attribué."),
    ("h1", "4. Arrêter l'assurance volontaire"),
    ("h2", "Sur votre demande"),
    ("p", "Vous pouvez mettre fin à votre adhésion à tout moment par une lettre signée remise à l'agence ou "
          "envoyée depuis le portail. La fin prend effet au dernier jour du trimestre civil en cours. Les "
          "périodes payées restent acquises pour votre retraite ; les cotisations déjà versées ne sont pas "
          "remboursées. Une nouvelle adhésion reste possible par la suite si vous remplissez encore les "
          "conditions."),
    ("h2", "Automatiquement"),
    ("ul", [
        "Reprise d'un emploi salarié : l'adhésion est suspendue à la date d'embauche, puisque votre employeur "
        "cotise pour vous. Prévenez l'agence dans les 30 jours ; les cotisations volontaires payées en double "
        "pour les mêmes mois vous sont remboursées sur demande.",
        "Début d'une activité indépendante : l'adhésion prend fin et vous devez vous affilier au régime des "
        "travailleurs indépendants.",
        "Attribution de votre pension de vieillesse, ou décès.",
    ]),
    ("h2", "Pour défaut de paiement"),
    ("p", "Lorsque deux trimestres consécutifs restent impayés, la CNSS adresse une mise en demeure par SMS "
          "et par courrier. Sans régularisation dans les 30 jours, l'adhérent est radié. Après une radiation "
          "pour défaut de paiement, une nouvelle adhésion n'est pas possible avant 2 ans. Les mois payés avant "
          "la radiation restent acquis."),
    ("h1", "5. Exemples"),
    ("p", "Mme B., 42 ans, a quitté une société de gardiennage de Port-Gentil le 31 mars 2025 après 9 ans de "
          "travail. Elle pouvait demander l'adhésion jusqu'au 31 mars 2026."),
    ("p", "M. N., infirmier gabonais employé dans une clinique privée d'un pays voisin qui n'a pas de "
          "convention avec le Gabon, peut adhérer depuis l'étranger à tout moment avant ses 60 ans."),
    ("small", DISCLAIMER),
]

DOCUMENTS = [
    {"file": "guide_affiliation_independant.pdf", "title": "Guide de l'affiliation du travailleur indépendant",
     "header": "CNSS Gabon — Régime des travailleurs indépendants", "blocks": AFFILIATION},
    {"file": "assurance_volontaire_adhesion.docx", "title": "L'assurance volontaire",
     "header": "CNSS Gabon — Direction des Prestations et de la Relation Usagers", "blocks": ASSURANCE_VOLONTAIRE},
]
